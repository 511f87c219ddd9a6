#include "kernels/cpu/swiglu.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "core/error.h"
#include "kernels/cpu/vec_math.h"

namespace sadari::cpu {

namespace {

constexpr int64_t kParallelMin = 1 << 15;

using vecmath::stable_sigmoid;

// Float rows 8 lanes at a time with the vectorised sigmoid (libm's expf, one call
// per element, was most of the gate's cost). The last partial vector of a row is
// padded, so every element goes through the same operations wherever it sits:
// the bits do not depend on how rows are split among threads.
using vecmath::f32x8;

// Full vectors are moved with a constant-size memcpy (one unaligned load/store);
// only a row's last partial vector pays for a variable-length copy.
template <bool kFull>
inline f32x8 load(const float* p, int64_t len) {
  f32x8 v{};
  std::memcpy(&v, p, kFull ? sizeof v : sizeof(float) * static_cast<size_t>(len));
  return v;
}
template <bool kFull>
inline void store(float* p, const f32x8& v, int64_t len) {
  std::memcpy(p, &v, kFull ? sizeof v : sizeof(float) * static_cast<size_t>(len));
}

template <bool kFull>
inline void swiglu_forward_vec(const float* gate, const float* up, float* h, int64_t len) {
  const f32x8 g = load<kFull>(gate, len), u = load<kFull>(up, len);
  f32x8 s = g;
  vecmath::sigmoid_f32x8(s);
  store<kFull>(h, g * s * u, len);
}

template <bool kFull>
inline void swiglu_backward_vec(const float* dh, const float* gate, const float* up, float* dgate,
                                float* dup, int64_t len) {
  const f32x8 d = load<kFull>(dh, len), g = load<kFull>(gate, len), u = load<kFull>(up, len);
  f32x8 s = g;
  vecmath::sigmoid_f32x8(s);
  store<kFull>(dup, d * g * s, len);
  store<kFull>(dgate, d * u * s * (1.0f + g * (1.0f - s)), len);
}

void swiglu_forward_row(const float* gate, const float* up, float* h, int64_t F) {
  int64_t j = 0;
  for (; j + 8 <= F; j += 8) swiglu_forward_vec<true>(gate + j, up + j, h + j, 8);
  if (j < F) swiglu_forward_vec<false>(gate + j, up + j, h + j, F - j);
}

void swiglu_backward_row(const float* dh, const float* gate, const float* up, float* dgate,
                         float* dup, int64_t F) {
  int64_t j = 0;
  for (; j + 8 <= F; j += 8)
    swiglu_backward_vec<true>(dh + j, gate + j, up + j, dgate + j, dup + j, 8);
  if (j < F) swiglu_backward_vec<false>(dh + j, gate + j, up + j, dgate + j, dup + j, F - j);
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
    if constexpr (std::is_same_v<T, float>)
      swiglu_forward_row(gate, up, hr, F);
    else
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
    if constexpr (std::is_same_v<T, float>) {
      swiglu_backward_row(dhr, gate, up, dgate, dup, F);
      continue;
    }
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
