#include "kernels/cpu/fp8_linear.h"

#include "core/error.h"

namespace sadari::cpu {

Fp8Matrix fp8_quantize_weight(const float* W, int64_t out, int64_t in,
                              const Fp8QuantizeOptions& opt, std::string name) {
  return Fp8Matrix::blocks(W, out, in, opt, std::move(name));
}

void fp8_linear_forward(const float* x, const Fp8Matrix& Wq, float* y, int64_t n,
                        const Fp8QuantizeOptions& opt) {
  SADARI_CHECK(Wq.tiling == Fp8Tiling::blocks_128x128, "fp8_linear_forward: weight ", Wq.name,
               " must be quantised in 128x128 blocks (fp8_quantize_weight)");
  const auto xq = Fp8Matrix::tiles(x, n, Wq.cols, opt, Wq.name + ".x");
  fp8_gemm_nt(xq.view(), Wq.view(), y, Wq.rows);
}

void fp8_linear_backward(const float* dy, const float* x, const Fp8Matrix& Wq, float* dx,
                         float* dW, int64_t n, const Fp8QuantizeOptions& opt,
                         bool accumulate_dx) {
  SADARI_CHECK(Wq.tiling == Fp8Tiling::blocks_128x128, "fp8_linear_backward: weight ", Wq.name,
               " must be quantised in 128x128 blocks (fp8_quantize_weight)");
  const int64_t out = Wq.rows, in = Wq.cols;
  if (dx) {
    // dx[n, in] = dy[n, out] . (W^T)[in, out]^T: contraction over `out`.
    const auto dyq = Fp8Matrix::tiles(dy, n, out, opt, Wq.name + ".dy");
    const auto wt = Wq.transposed();
    fp8_gemm_nt(dyq.view(), wt.view(), dx, in, accumulate_dx ? 1.0f : 0.0f);
  }
  if (dW) fp8_linear_wgrad(dy, x, dW, n, out, in, opt, Wq.name);
}

void fp8_linear_wgrad(const float* dy, const float* x, float* dW, int64_t n, int64_t out,
                      int64_t in, const Fp8QuantizeOptions& opt, const std::string& name) {
  // dW[out, in] += (dy^T)[out, n] . (x^T)[in, n]^T: contraction over tokens.
  const auto dyt = Fp8Matrix::tiles_transposed(dy, n, out, opt, name + ".dy^T");
  const auto xt = Fp8Matrix::tiles_transposed(x, n, in, opt, name + ".x^T");
  fp8_gemm_nt(dyt.view(), xt.view(), dW, in, 1.0f);
}

}  // namespace sadari::cpu
