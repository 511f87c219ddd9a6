#include "kernels/cpu/pair_rows.h"

#include <cstring>

namespace sadari::cpu {

namespace {
// Below this many touched elements a loop runs on the calling thread: starting a
// parallel region costs more than the work.
constexpr int64_t kParallelMin = 1 << 14;
}  // namespace

template <typename T>
void combine_pairs(const T* rows, const int64_t* row_of_pair, const T* weight, T* y, int64_t n,
                   int64_t k, int64_t D) {
#pragma omp parallel for schedule(static) if (n * k * D >= kParallelMin)
  for (int64_t t = 0; t < n; ++t) {
    T* yt = y + t * D;
    for (int64_t j = 0; j < k; ++j) {
      const int64_t r = row_of_pair[t * k + j];
      if (r < 0) continue;  // dropped
      const T w = weight[t * k + j];
      const T* o = rows + r * D;
      for (int64_t d = 0; d < D; ++d) yt[d] += w * o[d];
    }
  }
}

template <typename T>
void combine_pairs_backward(const T* dy, const T* rows, const int64_t* row_of_pair,
                            const T* weight, T* d_rows, T* d_weight, int64_t n, int64_t k,
                            int64_t D) {
#pragma omp parallel for schedule(static) if (n * k * D >= kParallelMin)
  for (int64_t t = 0; t < n; ++t) {
    const T* g = dy + t * D;
    for (int64_t j = 0; j < k; ++j) {
      const int64_t r = row_of_pair[t * k + j];
      if (r < 0) {
        d_weight[t * k + j] = T(0);
        continue;
      }
      const T w = weight[t * k + j];
      const T* o = rows + r * D;
      T* dout = d_rows + r * D;
      T dot = T(0);
      for (int64_t d = 0; d < D; ++d) {
        dot += g[d] * o[d];
        dout[d] = w * g[d];
      }
      d_weight[t * k + j] = dot;
    }
  }
}

template <typename T>
void sum_pair_rows(const T* rows, const int64_t* row_of_pair, T* dx, int64_t n, int64_t k,
                   int64_t D) {
#pragma omp parallel for schedule(static) if (n * k * D >= kParallelMin)
  for (int64_t t = 0; t < n; ++t) {
    T* g = dx + t * D;
    for (int64_t j = 0; j < k; ++j) {
      const int64_t r = row_of_pair[t * k + j];
      if (r < 0) continue;
      const T* dr = rows + r * D;
      for (int64_t d = 0; d < D; ++d) g[d] += dr[d];
    }
  }
}

template <typename T>
void gather_rows(const T* src, const int64_t* index, int64_t stride, T* out, int64_t count,
                 int64_t D) {
#pragma omp parallel for schedule(static) if (count * D >= kParallelMin)
  for (int64_t i = 0; i < count; ++i)
    std::memcpy(out + i * D, src + (index[i] / stride) * D, sizeof(T) * static_cast<size_t>(D));
}

template <typename T>
void scatter_rows(const T* src, const int64_t* index, int64_t stride, T* out, int64_t count,
                  int64_t D) {
#pragma omp parallel for schedule(static) if (count * D >= kParallelMin)
  for (int64_t i = 0; i < count; ++i)
    if (index[i] >= 0)
      std::memcpy(out + index[i] * D, src + (i / stride) * D, sizeof(T) * static_cast<size_t>(D));
}

#define SADARI_PAIR_ROWS(T)                                                                      \
  template void combine_pairs<T>(const T*, const int64_t*, const T*, T*, int64_t, int64_t,      \
                                 int64_t);                                                      \
  template void combine_pairs_backward<T>(const T*, const T*, const int64_t*, const T*, T*, T*, \
                                          int64_t, int64_t, int64_t);                           \
  template void sum_pair_rows<T>(const T*, const int64_t*, T*, int64_t, int64_t, int64_t);      \
  template void gather_rows<T>(const T*, const int64_t*, int64_t, T*, int64_t, int64_t);        \
  template void scatter_rows<T>(const T*, const int64_t*, int64_t, T*, int64_t, int64_t);
SADARI_PAIR_ROWS(float)
SADARI_PAIR_ROWS(double)
#undef SADARI_PAIR_ROWS

}  // namespace sadari::cpu
