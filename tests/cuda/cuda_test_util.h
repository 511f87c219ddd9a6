// Helpers for the CUDA tests: skipping without a GPU, seeded random data, moving
// std::vectors to and from the device, and element-wise comparison with a tolerance
// that reports where and by how much a result is off.
//
// Every test that touches a device starts with SADARI_REQUIRE_GPU(), so test_cuda
// passes (as skipped) on build machines without one.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "kernels/cuda/device.h"

#define SADARI_REQUIRE_GPU()                                                        \
  do {                                                                              \
    if (::sadari::cuda::device_count() == 0)                                        \
      GTEST_SKIP() << "no CUDA device: " << ::sadari::cuda::no_device_reason();      \
    ::sadari::cuda::init_cuda_backend();                                            \
  } while (0)

namespace sadari::cuda::test {

// Uniform floats in [lo, hi), reproducible from the seed.
inline std::vector<float> random_floats(size_t n, uint64_t seed, float lo = -1.f,
                                        float hi = 1.f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

template <typename T>
constexpr DType dtype_for() {
  if constexpr (std::is_same_v<T, float>) return DType::f32;
  else if constexpr (std::is_same_v<T, int32_t>) return DType::i32;
  else if constexpr (std::is_same_v<T, uint16_t>) return DType::bf16;  // bit patterns
  else if constexpr (std::is_same_v<T, double>) return DType::f64;
  else return DType::i64;
}

// A device copy of v (at least one element, so empty inputs still get a pointer).
template <typename T>
Tensor upload(const std::vector<T>& v) {
  std::vector<T> padded = v.empty() ? std::vector<T>(1) : v;
  return to_device(Tensor::wrap(padded.data(), {int64_t(padded.size())}, dtype_for<T>()));
}

// A device buffer of n elements, zero-filled.
template <typename T>
Tensor device_zeros(int64_t n) {
  Tensor t = Tensor::empty({n > 0 ? n : 1}, dtype_for<T>(), Device::cuda);
  fill_zero_async(t, nullptr);
  return t;
}

template <typename T>
std::vector<T> download(const Tensor& device, int64_t n) {
  Tensor host = to_host(device);
  std::vector<T> v(n);
  if (n) std::memcpy(v.data(), host.raw(), sizeof(T) * n);
  return v;
}

template <typename T>
T* ptr(const Tensor& t) {
  return static_cast<T*>(t.raw());
}

// Passes when |got_i - want_i| <= atol + rtol * |want_i| for every i (NaN fails);
// otherwise reports the count, the worst element and its index.
template <typename A, typename B>
::testing::AssertionResult all_close(const std::vector<A>& got, const std::vector<B>& want,
                                     double atol, double rtol) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "sizes differ: " << got.size() << " vs " << want.size();
  size_t bad = 0, worst = 0;
  double worst_excess = -1;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = double(got[i]), w = double(want[i]);
    const double err = std::fabs(g - w), tol = atol + rtol * std::fabs(w);
    if (!(err <= tol)) {
      ++bad;
      const double excess = std::isnan(err) ? INFINITY : err - tol;
      if (excess > worst_excess) worst_excess = excess, worst = i;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << bad << " of " << got.size() << " elements outside atol " << atol << " + rtol "
         << rtol << "; worst at " << worst << ": got " << double(got[worst]) << ", want "
         << double(want[worst]);
}

}  // namespace sadari::cuda::test
