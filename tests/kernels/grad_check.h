// Test helpers for the kernel tests: seeded random buffers, and a central
// finite-difference gradient check in double precision.
//
// Every backward test feeds dout = random weights w, so the analytic result is the
// gradient of L = sum(out * w), and compares it with numeric_grad of that L using
// max_relative_error below (an element-wise relative error with a floor) against
// kGradTolerance = 1e-6.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

namespace sadari::test {

// Uniform values in [lo, hi), reproducible from the seed.
inline std::vector<double> random_vector(size_t n, uint64_t seed, double lo = -1.0,
                                         double hi = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

template <typename T>
std::vector<T> cast_vector(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

// L = sum_i out_i * weight_i: a scalar loss whose gradient with respect to out is
// `weight`, so a backward pass fed dout = weight must return dL/dinput.
inline double weighted_sum(const std::vector<double>& out, const std::vector<double>& weight) {
  double s = 0;
  for (size_t i = 0; i < out.size(); ++i) s += out[i] * weight[i];
  return s;
}

// dL/dx_i by central finite differences; `loss` reads x (captured by reference),
// which is restored after every probe. The fourth-order central stencil
//   (-L(x+2h) + 8 L(x+h) - 8 L(x-h) + L(x-2h)) / 12h
// with h = 1e-3 has truncation error ~h^4 = 1e-12 and rounding error
// ~eps |L| / h ~ 1e-13 |L|; the two-point (L(x+h) - L(x-h)) / 2h needs h ~ 1e-5
// to balance the two, which leaves only ~1e-7 relative accuracy when |L| is a
// sum of hundreds of terms (the attention check came within 4x of 1e-6 that way).
inline std::vector<double> numeric_grad(const std::function<double()>& loss,
                                        std::vector<double>& x, double h = 1e-3) {
  std::vector<double> g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    auto at = [&](double offset) {
      x[i] = saved + offset;
      return loss();
    };
    const double p2 = at(2 * h), p1 = at(h), m1 = at(-h), m2 = at(-2 * h);
    x[i] = saved;
    g[i] = (-p2 + 8 * p1 - 8 * m1 + m2) / (12 * h);
  }
  return g;
}

// The largest element-wise relative error
//   |a_i - n_i| / max(|a_i|, |n_i|, 1e-3 * max_k |n_k|).
// The floor keeps entries that are (nearly) zero from turning round-off into a
// large relative error, while still demanding 1e-6 of the gradient's own scale there.
inline double max_relative_error(const std::vector<double>& analytic,
                                 const std::vector<double>& numeric) {
  double scale = 0;
  for (double n : numeric) scale = std::max(scale, std::abs(n));
  const double floor = std::max(1e-3 * scale, 1e-300);
  double worst = 0;
  for (size_t i = 0; i < analytic.size(); ++i) {
    const double denom = std::max({std::abs(analytic[i]), std::abs(numeric[i]), floor});
    worst = std::max(worst, std::abs(analytic[i] - numeric[i]) / denom);
  }
  return worst;
}

// The tolerance every finite-difference check in tests/kernels is held to.
inline constexpr double kGradTolerance = 1e-6;

}  // namespace sadari::test
