// FP8 linear layer (kernels/cpu/fp8_linear.h): Fprop, Dgrad and Wgrad against the
// fp32 layer (cpu::matmul) within the stated relative error, the accumulation
// semantics, and the operand layouts against fp8_gemm_nt on explicitly built
// operands.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/fp8_linear.h"
#include "kernels/cpu/gemm.h"
#include "tests/kernels/gaussian.h"

namespace sadari::cpu {
namespace {

double rel_frobenius(const std::vector<float>& got, const std::vector<float>& want) {
  double e = 0, r = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    e += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
    r += double(want[i]) * want[i];
  }
  return std::sqrt(e / r);
}

TEST(Fp8Linear, MatchesFp32WithinQuantisationError) {
  // n tokens, in, out: partial tiles in every dimension.
  const int64_t n = 300, in = 200, out = 330;
  const auto x = gaussian(n * in, 1), W = gaussian(out * in, 2, 0.05f);
  const auto dy = gaussian(n * out, 3, 1e-3f);
  const Fp8QuantizeOptions opt{};
  const auto Wq = fp8_quantize_weight(W.data(), out, in, opt, "blocks.0.ffn.w_up");

  std::vector<float> y(size_t(n * out)), y32(y.size());
  fp8_linear_forward(x.data(), Wq, y.data(), n, opt);
  matmul<float>(false, true, n, out, in, x.data(), W.data(), y32.data());

  const auto dW0 = gaussian(out * in, 4, 1e-2f);
  std::vector<float> dx(size_t(n * in)), dx32(dx.size()), dW = dW0, dW32(dW.size());
  fp8_linear_backward(dy.data(), x.data(), Wq, dx.data(), dW.data(), n, opt);
  matmul<float>(false, false, n, in, out, dy.data(), W.data(), dx32.data());
  matmul<float>(true, false, out, in, n, dy.data(), x.data(), dW32.data());
  // dW accumulates: compare the increment.
  for (size_t i = 0; i < dW.size(); ++i) dW[i] -= dW0[i];

  const double ey = rel_frobenius(y, y32), edx = rel_frobenius(dx, dx32),
               edw = rel_frobenius(dW, dW32);
  std::printf("[fp8 linear] %ldx%ld->%ld relative Frobenius error vs fp32: fprop %.4f, "
              "dgrad %.4f, wgrad %.4f\n",
              long(n), long(in), long(out), ey, edx, edw);
  for (double e : {ey, edx, edw}) {
    EXPECT_LT(e, 0.05);
    EXPECT_GT(e, 0.005);  // it really ran in FP8
  }
}

// The layouts, pinned down: each product equals fp8_gemm_nt on operands quantised
// by hand from explicitly transposed fp32 matrices (Dgrad's W^T requantised from
// W^T equals the block transpose, see fp8_quantize_test).
TEST(Fp8Linear, ProductsAreTheDocumentedGemms) {
  const int64_t n = 140, in = 130, out = 260;
  const auto x = gaussian(n * in, 5), W = gaussian(out * in, 6), dy = gaussian(n * out, 7);
  const Fp8QuantizeOptions opt{Fp8Format::e4m3, true};
  const auto Wq = fp8_quantize_weight(W.data(), out, in, opt, "w");
  auto transpose = [](const std::vector<float>& a, int64_t r, int64_t c) {
    std::vector<float> t(a.size());
    for (int64_t i = 0; i < r; ++i)
      for (int64_t j = 0; j < c; ++j) t[size_t(j * r + i)] = a[size_t(i * c + j)];
    return t;
  };
  const auto Wt = transpose(W, out, in), dyt = transpose(dy, n, out), xt = transpose(x, n, in);

  std::vector<float> dx(size_t(n * in), 1.0f), dW(size_t(out * in), 2.0f);
  fp8_linear_backward(dy.data(), x.data(), Wq, dx.data(), dW.data(), n, opt,
                      /*accumulate_dx=*/true);

  std::vector<float> dx_ref(dx.size(), 1.0f), dW_ref(dW.size(), 2.0f);
  const auto dyq = Fp8Matrix::tiles(dy.data(), n, out, opt, "dy");
  const auto wtq = Fp8Matrix::blocks(Wt.data(), in, out, opt, "wt");
  fp8_gemm_nt(dyq.view(), wtq.view(), dx_ref.data(), in, 1.0f);
  const auto dytq = Fp8Matrix::tiles(dyt.data(), out, n, opt, "dyt");
  const auto xtq = Fp8Matrix::tiles(xt.data(), in, n, opt, "xt");
  fp8_gemm_nt(dytq.view(), xtq.view(), dW_ref.data(), in, 1.0f);
  EXPECT_EQ(dx, dx_ref);
  EXPECT_EQ(dW, dW_ref);
}

TEST(Fp8Linear, NonFiniteGradientNamesTheLayer) {
  const int64_t n = 4, in = 8, out = 8;
  const auto x = gaussian(n * in, 1), W = gaussian(out * in, 2);
  auto dy = gaussian(n * out, 3);
  dy[5] = NAN;
  const auto Wq = fp8_quantize_weight(W.data(), out, in, {}, "blocks.1.attn.wo");
  std::vector<float> dx(size_t(n * in)), dW(size_t(out * in));
  try {
    fp8_linear_backward(dy.data(), x.data(), Wq, dx.data(), dW.data(), n, {});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "tensor blocks.1.attn.wo.dy");
  }
  // A weight quantised in 1x128 tiles is refused.
  const auto Wtiles = Fp8Matrix::tiles(W.data(), out, in, {}, "w");
  std::vector<float> y(size_t(n * out));
  EXPECT_THROW(fp8_linear_forward(x.data(), Wtiles, y.data(), n, {}), Error);
}

}  // namespace
}  // namespace sadari::cpu
