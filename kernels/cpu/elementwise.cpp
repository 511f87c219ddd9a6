#include "kernels/cpu/elementwise.h"

#include "core/bf16.h"
#include "core/error.h"

namespace sadari::cpu {

namespace {

constexpr int64_t kParallelMin = 1 << 16;

}  // namespace

template <typename T>
void add(const T* a, const T* b, T* out, int64_t n) {
#pragma omp parallel for simd if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

template <typename T>
void add_inplace(T* y, const T* x, int64_t n) {
#pragma omp parallel for simd if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

template <typename T>
void axpy(T alpha, const T* x, T* y, int64_t n) {
#pragma omp parallel for simd if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

template <typename T>
void scale(T* x, T alpha, int64_t n) {
#pragma omp parallel for simd if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) x[i] *= alpha;
}

template <typename T>
double sum_squares(const T* x, int64_t n) {
  // One sequential sum: the same bits for any thread count and any caller's
  // split of a buffer into pieces summed in order. It is the gradient norm's sum
  // (a few ms per step at small-moe's 12M parameters).
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  return s;
}

void round_to_bf16(const float* x, float* out, int64_t n) {
#pragma omp parallel for if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) out[i] = sadari::round_to_bf16(x[i]);
}

void round_to_bf16_inplace(float* x, int64_t n) { round_to_bf16(x, x, n); }

#define SADARI_INSTANTIATE(T)                                        \
  template void add<T>(const T*, const T*, T*, int64_t);             \
  template void add_inplace<T>(T*, const T*, int64_t);               \
  template void axpy<T>(T, const T*, T*, int64_t);                   \
  template void scale<T>(T*, T, int64_t);                            \
  template double sum_squares<T>(const T*, int64_t);
SADARI_INSTANTIATE(float)
SADARI_INSTANTIATE(double)
#undef SADARI_INSTANTIATE

}  // namespace sadari::cpu
