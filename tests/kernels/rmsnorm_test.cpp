// RMSNorm: forward against a naive reference; dx and dw against finite differences
// (double), including that dw accumulates rather than overwrites.
#include "kernels/cpu/rmsnorm.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tests/kernels/grad_check.h"

namespace sadari::cpu {
namespace {

constexpr int64_t kRows = 5, kDim = 12;
constexpr double kEps = 1e-5;

std::vector<double> naive_rmsnorm(const std::vector<double>& x, const std::vector<double>& w) {
  std::vector<double> y(x.size());
  for (int64_t r = 0; r < kRows; ++r) {
    double ms = 0;
    for (int64_t j = 0; j < kDim; ++j) ms += x[r * kDim + j] * x[r * kDim + j];
    const double rs = 1.0 / std::sqrt(ms / kDim + kEps);
    for (int64_t j = 0; j < kDim; ++j) y[r * kDim + j] = x[r * kDim + j] * rs * w[j];
  }
  return y;
}

TEST(RmsNorm, ForwardMatchesNaive) {
  const auto x = test::random_vector(kRows * kDim, 10, -2, 2);
  const auto w = test::random_vector(kDim, 11, 0.5, 1.5);
  const auto ref = naive_rmsnorm(x, w);
  std::vector<double> y(x.size()), rstd(kRows);
  rmsnorm_forward<double>(x.data(), w.data(), y.data(), rstd.data(), kRows, kDim, kEps);
  for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], ref[i], 1e-13);

  auto xf = test::cast_vector<float>(x), wf = test::cast_vector<float>(w);
  std::vector<float> yf(x.size()), rstdf(kRows);
  rmsnorm_forward<float>(xf.data(), wf.data(), yf.data(), rstdf.data(), kRows, kDim, kEps);
  for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(yf[i], ref[i], 1e-5);
}

TEST(RmsNorm, BackwardMatchesFiniteDifferences) {
  auto x = test::random_vector(kRows * kDim, 12, -2, 2);
  auto w = test::random_vector(kDim, 13, 0.5, 1.5);
  const auto weight = test::random_vector(kRows * kDim, 14);
  auto loss = [&] {
    std::vector<double> y(x.size()), rstd(kRows);
    rmsnorm_forward<double>(x.data(), w.data(), y.data(), rstd.data(), kRows, kDim, kEps);
    return test::weighted_sum(y, weight);
  };
  std::vector<double> y(x.size()), rstd(kRows), dx(x.size());
  rmsnorm_forward<double>(x.data(), w.data(), y.data(), rstd.data(), kRows, kDim, kEps);
  const auto dw0 = test::random_vector(kDim, 15);  // dw must be accumulated into
  auto dw = dw0;
  rmsnorm_backward<double>(weight.data(), x.data(), w.data(), rstd.data(), dx.data(), dw.data(),
                           kRows, kDim);
  for (int64_t j = 0; j < kDim; ++j) dw[j] -= dw0[j];
  EXPECT_LT(test::max_relative_error(dx, test::numeric_grad(loss, x)), test::kGradTolerance);
  EXPECT_LT(test::max_relative_error(dw, test::numeric_grad(loss, w)), test::kGradTolerance);
}

}  // namespace
}  // namespace sadari::cpu
