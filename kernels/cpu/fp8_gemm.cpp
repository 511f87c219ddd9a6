#include "kernels/cpu/fp8_gemm.h"

#include <cmath>
#include <memory>

#include "core/error.h"
#include "kernels/cpu/gemm.h"

namespace sadari::cpu {

namespace {

// Grow-only scratch without zero-filling (std::vector would write every element
// once more per resize, a measurable share of a small product).
struct Scratch {
  std::unique_ptr<float[]> data;
  int64_t size = 0;
  float* get(int64_t n) {
    if (n > size) {
      data.reset(new float[size_t(n)]);
      size = n;
    }
    return data.get();
  }
};

}  // namespace

void fp8_check_scales(const Fp8View& v) {
  const int64_t sr = v.scale_rows(), sc = v.scale_cols();
  for (int64_t i = 0; i < sr * sc; ++i) {
    const float s = v.scales[i];
    if (!(std::isfinite(s) && s > 0.0f))
      fail(detail::cat("FP8 scale ", s, " of tile [", i / sc, ", ", i % sc,
                       "] is not a finite positive number"),
           detail::cat("tensor ", v.name),
           "the scale overflowed or was corrupted: requantise the tensor from finite values");
  }
}

void fp8_gemm_nt(const Fp8View& A, const Fp8View& B, float* C, int64_t ldc, float beta) {
  const int64_t M = A.rows, N = B.rows, K = A.cols;
  if (A.cols != B.cols)
    fail(detail::cat("FP8 GEMM operands disagree on K: ", A.name, " is ", A.rows, "x", A.cols,
                     ", ", B.name, " is ", B.rows, "x", B.cols),
         detail::cat("tensors ", A.name, " and ", B.name),
         "both operands are K-major ([M, K] and [N, K]); transpose or requantise one");
  SADARI_CHECK(M >= 0 && N >= 0 && K >= 0, "fp8_gemm_nt: negative size for ", A.name, " or ",
               B.name);
  SADARI_CHECK(ldc >= N, "fp8_gemm_nt: ldc=", ldc, " < N=", N, " (", A.name, " x ", B.name,
               "^T)");
  fp8_check_scales(A);
  fp8_check_scales(B);
  if (M == 0 || N == 0) return;  // C is empty
  thread_local Scratch sa, sb;
  float* a = sa.get(M * K);
  float* b = sb.get(N * K);
  fp8_dequantize(A, a, K);
  fp8_dequantize(B, b, K);
  gemm<float>(false, true, M, N, K, 1.0f, a, K, b, K, beta, C, ldc);
}

}  // namespace sadari::cpu
