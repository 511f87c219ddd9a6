// Seeded Gaussian test data for the kernel tests (the same values on every run
// and machine: std::mt19937_64 is fully specified; the normal distribution is
// libstdc++'s, fixed for this toolchain).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace sadari::cpu {

inline std::vector<float> gaussian(int64_t n, uint64_t seed, float sigma = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, sigma);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

}  // namespace sadari::cpu
