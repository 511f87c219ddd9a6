// One product of a (grouped) GEMM, in every backend's terms: row-major
// C[M,N] = alpha * op(A) * op(B) + beta * C, op(A) is [M,K], op(B) is [K,N];
// lda/ldb/ldc are the row strides of the stored (untransposed) matrices. The
// buffers are borrowed and live on the device of the context that runs it.
#pragma once

#include <cstdint>

namespace sadari {

template <typename T>
struct GemmProblem {
  bool trans_a = false, trans_b = false;
  int64_t M = 0, N = 0, K = 0;
  T alpha = T(1);
  const T* A = nullptr;
  int64_t lda = 0;
  const T* B = nullptr;
  int64_t ldb = 0;
  T beta = T(0);
  T* C = nullptr;
  int64_t ldc = 0;
};

}  // namespace sadari
