// Dense matrix multiply on the host through OpenBLAS (cblas_sgemm / cblas_dgemm).
// Row-major: C[M,N] = alpha * op(A) * op(B) + beta * C, op(A) is [M,K], op(B) is [K,N];
// lda/ldb/ldc are the row strides of the stored (untransposed) matrices.
// T is float or double. Thread-safety: reentrant; OpenBLAS threads internally.
#pragma once
#include <cstdint>

namespace sadari::cpu {

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// Convenience for packed operands: lda/ldb/ldc implied by the shapes.
template <typename T>
void matmul(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A, const T* B,
            T* C, T beta = T(0));

}  // namespace sadari::cpu
