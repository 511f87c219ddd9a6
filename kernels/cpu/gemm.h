// Dense matrix multiply on the host through OpenBLAS (cblas_sgemm / cblas_dgemm).
// Row-major: C[M,N] = alpha * op(A) * op(B) + beta * C, op(A) is [M,K], op(B) is [K,N];
// lda/ldb/ldc are the row strides of the stored (untransposed) matrices.
// T is float or double. Thread-safety: reentrant.
// Threads: large products are split into tiles of C chosen from the shape alone,
// run in parallel with OpenMP, one single-threaded OpenBLAS call per tile, so the
// result is bitwise the same for any thread count (OpenBLAS's own threading is
// not). Called from inside an OpenMP parallel region, it runs on the calling
// thread as one OpenBLAS call.
// Throws Error for negative dimensions, leading dimensions smaller than the stored
// rows, or values beyond OpenBLAS's 32-bit integers. K = 0 leaves C = beta * C
// (beta = 0 writes zeros).
#pragma once
#include <cstdint>

#include "kernels/gemm_problem.h"

namespace sadari::cpu {

using sadari::GemmProblem;  // kernels/gemm_problem.h

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);


// Grouped GEMM: computes every problem exactly as gemm() would alone (the same
// tiles, so the same bits), but all tiles of all problems share one parallel
// region instead of one region per problem. For many small independent products
// (the experts of an MoE layer, each on its own slice of rows) this saves a
// fork/join per product and lets small products run side by side.
// REQUIRES: no problem's C overlaps another problem's A, B or C. Validation is as
// in gemm() and happens for all problems before any is computed.
template <typename T>
void gemm_grouped(const GemmProblem<T>* problems, int64_t count);

// Convenience for packed operands: lda/ldb/ldc implied by the shapes.
template <typename T>
void matmul(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A, const T* B,
            T* C, T beta = T(0));

}  // namespace sadari::cpu
