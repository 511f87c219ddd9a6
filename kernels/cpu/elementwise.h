// Small elementwise helpers used between layers (OpenMP over n).
#pragma once
#include <cstdint>

namespace sadari::cpu {

template <typename T> void add(const T* a, const T* b, T* out, int64_t n);   // out = a + b
template <typename T> void add_inplace(T* y, const T* x, int64_t n);        // y += x
template <typename T> void axpy(T alpha, const T* x, T* y, int64_t n);      // y += alpha x
template <typename T> void scale(T* x, T alpha, int64_t n);                 // x *= alpha
// sum x^2 in double, one sequential sum: the same result for any thread count.
template <typename T> double sum_squares(const T* x, int64_t n);
// Rounds every value to the nearest bf16 (round-to-nearest-even), in place:
// the CPU emulation of bf16 storage.
void round_to_bf16_inplace(float* x, int64_t n);
// out = x rounded likewise (out may equal x).
void round_to_bf16(const float* x, float* out, int64_t n);

}  // namespace sadari::cpu
