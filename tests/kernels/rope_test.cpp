// RoPE: forward against a naive rotate-half reference; backward against finite
// differences (double); backward undoes forward.
#include "kernels/cpu/rope.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "tests/kernels/grad_check.h"

namespace sadari::cpu {
namespace {

constexpr int64_t kB = 2, kT = 5, kH = 3, kHd = 8;
constexpr double kTheta = 10000.0;

std::vector<double> naive_rope(const std::vector<double>& x) {
  std::vector<double> y(x.size());
  const int64_t half = kHd / 2;
  for (int64_t b = 0; b < kB; ++b)
    for (int64_t t = 0; t < kT; ++t)
      for (int64_t h = 0; h < kH; ++h) {
        const int64_t base = ((b * kT + t) * kH + h) * kHd;
        for (int64_t i = 0; i < half; ++i) {
          const double angle = t * std::pow(kTheta, -2.0 * i / kHd);
          const double a = x[base + i], c = x[base + i + half];
          y[base + i] = a * std::cos(angle) - c * std::sin(angle);
          y[base + i + half] = a * std::sin(angle) + c * std::cos(angle);
        }
      }
  return y;
}

TEST(Rope, ForwardMatchesNaive) {
  const auto x = test::random_vector(kB * kT * kH * kHd, 20);
  const auto ref = naive_rope(x);
  auto y = x;
  rope_forward<double>(y.data(), kB, kT, kH, kHd, kTheta);
  for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], ref[i], 1e-14);
  auto yf = test::cast_vector<float>(x);
  rope_forward<float>(yf.data(), kB, kT, kH, kHd, kTheta);
  for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(yf[i], ref[i], 1e-6);
  // Position 0 is the identity.
  for (int64_t i = 0; i < kH * kHd; ++i) EXPECT_EQ(y[i], x[i]);
}

TEST(Rope, BackwardMatchesFiniteDifferences) {
  auto x = test::random_vector(kB * kT * kH * kHd, 21);
  const auto weight = test::random_vector(x.size(), 22);
  auto loss = [&] {
    auto y = x;
    rope_forward<double>(y.data(), kB, kT, kH, kHd, kTheta);
    return test::weighted_sum(y, weight);
  };
  auto dx = weight;
  rope_backward<double>(dx.data(), kB, kT, kH, kHd, kTheta);
  EXPECT_LT(test::max_relative_error(dx, test::numeric_grad(loss, x)), test::kGradTolerance);
}

TEST(Rope, BackwardInvertsForward) {
  const auto x = test::random_vector(kB * kT * kH * kHd, 23);
  auto y = x;
  rope_forward<double>(y.data(), kB, kT, kH, kHd, kTheta);
  rope_backward<double>(y.data(), kB, kT, kH, kHd, kTheta);
  for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], x[i], 1e-14);
}

TEST(Rope, RejectsOddHeadDim) {
  std::vector<double> x(2 * 3);
  EXPECT_THROW(rope_forward<double>(x.data(), 1, 2, 1, 3, kTheta), Error);
}

}  // namespace
}  // namespace sadari::cpu
