#include "kernels/cpu/swiglu.h"

#include <cmath>

#include "core/error.h"

namespace sadari::cpu {

namespace {

constexpr int64_t kParallelMin = 1 << 15;

// exp of a non-positive argument only: no overflow for large |g|.
template <typename T>
T stable_sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

}  // namespace

template <typename T>
void swiglu_forward(const T* gate_up, T* h, int64_t rows, int64_t F) {
  SADARI_CHECK(rows >= 0 && F >= 0, "swiglu_forward: bad shape rows=", rows, " F=", F);
#pragma omp parallel for if (rows * F >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const T* gate = gate_up + r * 2 * F;
    const T* up = gate + F;
    T* hr = h + r * F;
    for (int64_t j = 0; j < F; ++j) hr[j] = gate[j] * stable_sigmoid(gate[j]) * up[j];
  }
}

// With s = sigmoid(g): d silu(g)/dg = s + g s (1 - s) = s (1 + g (1 - s)).
template <typename T>
void swiglu_backward(const T* dh, const T* gate_up, T* dgate_up, int64_t rows, int64_t F) {
  SADARI_CHECK(rows >= 0 && F >= 0, "swiglu_backward: bad shape rows=", rows, " F=", F);
#pragma omp parallel for if (rows * F >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const T* gate = gate_up + r * 2 * F;
    const T* up = gate + F;
    const T* dhr = dh + r * F;
    T* dgate = dgate_up + r * 2 * F;
    T* dup = dgate + F;
    for (int64_t j = 0; j < F; ++j) {
      const T g = gate[j], s = stable_sigmoid(g);
      dup[j] = dhr[j] * g * s;
      dgate[j] = dhr[j] * up[j] * s * (T(1) + g * (T(1) - s));
    }
  }
}

#define SADARI_INSTANTIATE(T)                                                 \
  template void swiglu_forward<T>(const T*, T*, int64_t, int64_t);            \
  template void swiglu_backward<T>(const T*, const T*, T*, int64_t, int64_t);
SADARI_INSTANTIATE(float)
SADARI_INSTANTIATE(double)
#undef SADARI_INSTANTIATE

}  // namespace sadari::cpu
