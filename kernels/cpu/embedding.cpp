#include "kernels/cpu/embedding.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

#include "core/error.h"

namespace sadari::cpu {

namespace {

constexpr int64_t kParallelMin = 1 << 15;

// Serial and before any parallel region: an exception must not escape one, and the
// first bad position is the one worth reporting.
void check_ids(const char* name, const int32_t* ids, int64_t n, int64_t vocab, int64_t dim) {
  SADARI_CHECK(n >= 0 && vocab > 0 && dim > 0, name, ": bad shape n=", n, " vocab=", vocab,
               " dim=", dim);
  for (int64_t i = 0; i < n; ++i)
    if (ids[i] < 0 || ids[i] >= vocab)
      fail(detail::cat(name, ": token id ", ids[i], " at position ", i, " is outside [0, ", vocab,
                       ")"),
           {}, "the data's tokenizer and the model's vocab_size must agree");
}

}  // namespace

template <typename T>
void embedding_forward(const int32_t* ids, const T* table, T* out, int64_t n, int64_t vocab,
                       int64_t dim) {
  check_ids("embedding_forward", ids, n, vocab, dim);
#pragma omp parallel for if (n * dim >= kParallelMin)
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(out + i * dim, table + int64_t(ids[i]) * dim, sizeof(T) * dim);
}

// Positions are stably sorted by id, so each table row is owned by one thread and
// receives its gradients in increasing position order: the same sums, in the same
// order, as a serial loop, for any thread count.
template <typename T>
void embedding_backward(const int32_t* ids, const T* dout, T* dtable, int64_t n, int64_t vocab,
                        int64_t dim) {
  check_ids("embedding_backward", ids, n, vocab, dim);
  if (n == 0) return;
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), int64_t(0));
  std::stable_sort(order.begin(), order.end(),
                   [ids](int64_t a, int64_t b) { return ids[a] < ids[b]; });
  std::vector<int64_t> group_start;  // into order; one group per distinct id
  for (int64_t s = 0; s < n; ++s)
    if (s == 0 || ids[order[s]] != ids[order[s - 1]]) group_start.push_back(s);
  group_start.push_back(n);
  const int64_t groups = int64_t(group_start.size()) - 1;
#pragma omp parallel for schedule(dynamic, 16) if (n * dim >= kParallelMin)
  for (int64_t g = 0; g < groups; ++g) {
    T* row = dtable + int64_t(ids[order[group_start[g]]]) * dim;
    for (int64_t s = group_start[g]; s < group_start[g + 1]; ++s) {
      const T* src = dout + order[s] * dim;
      for (int64_t j = 0; j < dim; ++j) row[j] += src[j];
    }
  }
}

#define SADARI_INSTANTIATE(T)                                                                \
  template void embedding_forward<T>(const int32_t*, const T*, T*, int64_t, int64_t, int64_t); \
  template void embedding_backward<T>(const int32_t*, const T*, T*, int64_t, int64_t, int64_t);
SADARI_INSTANTIATE(float)
SADARI_INSTANTIATE(double)
#undef SADARI_INSTANTIATE

}  // namespace sadari::cpu
