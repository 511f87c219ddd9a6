// Softmax and sigmoid: forward against naive formulas (including large inputs that
// would overflow a naive exp), backward against finite differences (double).
#include "kernels/cpu/activation.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tests/kernels/grad_check.h"

namespace sadari::cpu {
namespace {

constexpr int64_t kRows = 4, kCols = 9;

TEST(Softmax, ForwardMatchesNaive) {
  auto x = test::random_vector(kRows * kCols, 50, -3, 3);
  for (int64_t j = 0; j < kCols; ++j) x[j] += 1000.0;  // exp(1000) overflows without the max
  std::vector<double> y(x.size());
  softmax_forward<double>(x.data(), y.data(), kRows, kCols);
  auto xf = test::cast_vector<float>(x);
  std::vector<float> yf(x.size());
  softmax_forward<float>(xf.data(), yf.data(), kRows, kCols);
  for (int64_t r = 0; r < kRows; ++r) {
    double z = 0;
    for (int64_t j = 0; j < kCols; ++j) z += std::exp(x[r * kCols + j] - x[r * kCols]);
    for (int64_t j = 0; j < kCols; ++j) {
      const double ref = std::exp(x[r * kCols + j] - x[r * kCols]) / z;
      EXPECT_NEAR(y[r * kCols + j], ref, 1e-14);
      EXPECT_NEAR(yf[r * kCols + j], ref, r == 0 ? 1e-4 : 1e-6);  // row 0: float(x+1000)
    }
  }
}

TEST(Softmax, BackwardMatchesFiniteDifferences) {
  auto x = test::random_vector(kRows * kCols, 51, -3, 3);
  const auto weight = test::random_vector(x.size(), 52);
  std::vector<double> y(x.size());
  auto loss = [&] {
    softmax_forward<double>(x.data(), y.data(), kRows, kCols);
    return test::weighted_sum(y, weight);
  };
  loss();
  std::vector<double> dx(x.size());
  softmax_backward<double>(weight.data(), y.data(), dx.data(), kRows, kCols);
  EXPECT_LT(test::max_relative_error(dx, test::numeric_grad(loss, x)), test::kGradTolerance);
}

TEST(Sigmoid, ForwardMatchesNaive) {
  auto x = test::random_vector(20, 53, -6, 6);
  x.push_back(-800.0);  // exp(800) overflows in a naive 1/(1+exp(-x))
  x.push_back(800.0);
  std::vector<double> y(x.size());
  sigmoid_forward<double>(x.data(), y.data(), int64_t(x.size()));
  for (size_t i = 0; i + 2 < x.size(); ++i) EXPECT_NEAR(y[i], 1.0 / (1.0 + std::exp(-x[i])), 1e-15);
  EXPECT_EQ(y[y.size() - 2], 0.0);
  EXPECT_EQ(y[y.size() - 1], 1.0);
  auto xf = test::cast_vector<float>(x);
  std::vector<float> yf(x.size());
  sigmoid_forward<float>(xf.data(), yf.data(), int64_t(x.size()));
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(yf[i], y[i], 1e-7);
}

TEST(Sigmoid, BackwardMatchesFiniteDifferences) {
  auto x = test::random_vector(30, 54, -5, 5);
  const auto weight = test::random_vector(x.size(), 55);
  const int64_t n = int64_t(x.size());
  std::vector<double> y(x.size());
  auto loss = [&] {
    sigmoid_forward<double>(x.data(), y.data(), n);
    return test::weighted_sum(y, weight);
  };
  loss();
  std::vector<double> dx(x.size());
  sigmoid_backward<double>(weight.data(), y.data(), dx.data(), n);
  EXPECT_LT(test::max_relative_error(dx, test::numeric_grad(loss, x)), test::kGradTolerance);
}

}  // namespace
}  // namespace sadari::cpu
