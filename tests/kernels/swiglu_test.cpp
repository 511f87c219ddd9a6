// SwiGLU: forward against silu(gate) * up computed naively; backward against finite
// differences (double) over the whole fused gate_up input.
#include "kernels/cpu/swiglu.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tests/kernels/grad_check.h"

namespace sadari::cpu {
namespace {

constexpr int64_t kRows = 4, kF = 6;

TEST(SwiGlu, ForwardMatchesNaive) {
  auto gu = test::random_vector(kRows * 2 * kF, 40, -4, 4);
  gu[0] = -60.0;  // far tails: the sigmoid must not overflow
  gu[1] = 60.0;
  std::vector<double> h(kRows * kF);
  swiglu_forward<double>(gu.data(), h.data(), kRows, kF);
  auto guf = test::cast_vector<float>(gu);
  std::vector<float> hf(h.size());
  swiglu_forward<float>(guf.data(), hf.data(), kRows, kF);
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t j = 0; j < kF; ++j) {
      const double g = gu[r * 2 * kF + j], u = gu[r * 2 * kF + kF + j];
      const double ref = g / (1.0 + std::exp(-g)) * u;
      EXPECT_NEAR(h[r * kF + j], ref, 1e-13);
      EXPECT_NEAR(hf[r * kF + j], ref, 1e-4 * std::max(1.0, std::abs(ref)));
    }
}

TEST(SwiGlu, BackwardMatchesFiniteDifferences) {
  auto gu = test::random_vector(kRows * 2 * kF, 41, -4, 4);
  const auto weight = test::random_vector(kRows * kF, 42);
  auto loss = [&] {
    std::vector<double> h(kRows * kF);
    swiglu_forward<double>(gu.data(), h.data(), kRows, kF);
    return test::weighted_sum(h, weight);
  };
  std::vector<double> dgu(gu.size());
  swiglu_backward<double>(weight.data(), gu.data(), dgu.data(), kRows, kF);
  EXPECT_LT(test::max_relative_error(dgu, test::numeric_grad(loss, gu)), test::kGradTolerance);
}

}  // namespace
}  // namespace sadari::cpu
