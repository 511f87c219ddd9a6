#include "kernels/cpu/cross_entropy.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/vec_math.h"

namespace sadari::cpu {

namespace {

constexpr int64_t kParallelMin = 1 << 15;
// The forward pass needs only the sum of exp(x - max), not the values: they go
// through a small stack buffer, chunk by chunk, instead of a [vocab] scratch row.
constexpr int64_t kExpChunk = 512;

void check_targets(const char* name, const int32_t* targets, int64_t n, int64_t vocab) {
  SADARI_CHECK(n >= 0 && vocab > 0, name, ": bad shape n=", n, " vocab=", vocab);
  for (int64_t i = 0; i < n; ++i)
    if (targets[i] != kIgnoreTarget && (targets[i] < 0 || targets[i] >= vocab))
      fail(detail::cat(name, ": target ", targets[i], " at position ", i, " is outside [0, ",
                       vocab, ") and is not the ignore value ", kIgnoreTarget),
           {}, "the data's tokenizer and the model's vocab_size must agree");
}

}  // namespace

template <typename T>
double cross_entropy_forward(const T* logits, const int32_t* targets, T* lse, int64_t n,
                             int64_t vocab, int64_t* count) {
  check_targets("cross_entropy_forward", targets, n, vocab);
  // Per-row losses are summed serially afterwards, so the total does not depend on
  // how rows were split among threads.
  std::vector<double> row_loss(n, 0.0);
#pragma omp parallel for if (n * vocab >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const T* x = logits + i * vocab;
    const T m = *std::max_element(x, x + vocab);
    double sum = 0;
    T buf[kExpChunk];
    for (int64_t j0 = 0; j0 < vocab; j0 += kExpChunk) {
      const int64_t len = std::min(kExpChunk, vocab - j0);
      vecmath::exp_shifted(x + j0, m, buf, len);
      sum += vecmath::sum_double(buf, len);
    }
    const double l = double(m) + std::log(sum);
    lse[i] = T(l);
    if (targets[i] != kIgnoreTarget) row_loss[i] = l - double(x[targets[i]]);
  }
  double total = 0;
  int64_t counted = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (targets[i] == kIgnoreTarget) continue;
    total += row_loss[i];
    ++counted;
  }
  if (count) *count = counted;
  return total;
}

template <typename T>
void cross_entropy_backward(const T* logits, const int32_t* targets, const T* lse, T* dlogits,
                            int64_t n, int64_t vocab, T scale) {
  check_targets("cross_entropy_backward", targets, n, vocab);
#pragma omp parallel for if (n * vocab >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    T* d = dlogits + i * vocab;
    if (targets[i] == kIgnoreTarget) {
      std::fill(d, d + vocab, T(0));
      continue;
    }
    const T* x = logits + i * vocab;
    const T l = lse[i];
    vecmath::exp_shifted(x, l, d, vocab);
    for (int64_t j = 0; j < vocab; ++j) d[j] *= scale;
    d[targets[i]] -= scale;
  }
}

#define SADARI_INSTANTIATE(T)                                                              \
  template double cross_entropy_forward<T>(const T*, const int32_t*, T*, int64_t, int64_t, \
                                           int64_t*);                                      \
  template void cross_entropy_backward<T>(const T*, const int32_t*, const T*, T*, int64_t, \
                                          int64_t, T);
SADARI_INSTANTIATE(float)
SADARI_INSTANTIATE(double)
#undef SADARI_INSTANTIATE

}  // namespace sadari::cpu
