#include "kernels/cpu/topk.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace sadari::cpu {

namespace {
constexpr int64_t kParallelMin = 1 << 14;
}  // namespace

template <typename T>
void topk_rows(const T* x, int64_t rows, int64_t cols, int64_t k, int32_t* idx, T* val,
               const uint8_t* mask) {
  SADARI_CHECK(rows >= 0 && cols >= 0 && cols <= INT32_MAX, "topk_rows: bad shape rows=", rows,
               " cols=", cols);
  SADARI_CHECK(k > 0 && k <= cols, "topk_rows: k=", k, " must satisfy 0 < k <= cols=", cols);
  // A row without k allowed columns cannot throw from inside the parallel loop;
  // the smallest such row is remembered (min is order-independent) and reported after.
  int64_t first_short_row = rows;
#pragma omp parallel reduction(min : first_short_row) if (rows * cols >= kParallelMin)
  {
    std::vector<int32_t> cand(cols);
#pragma omp for
    for (int64_t r = 0; r < rows; ++r) {
      const T* xr = x + r * cols;
      const uint8_t* mr = mask ? mask + r * cols : nullptr;
      int64_t n = 0;
      for (int64_t j = 0; j < cols; ++j)
        if (!mr || mr[j]) cand[n++] = int32_t(j);
      if (n < k) {
        first_short_row = std::min(first_short_row, r);
        continue;
      }
      // A strict total order even with NaN (which compares false with everything and
      // would break the sort): numbers first, by value descending, NaNs last; equal
      // values by column ascending.
      auto before = [xr](int32_t a, int32_t b) {
        const T va = xr[a], vb = xr[b];
        const bool na = std::isnan(va), nb = std::isnan(vb);
        if (na != nb) return nb;
        if (!na && va != vb) return va > vb;
        return a < b;
      };
      std::partial_sort(cand.begin(), cand.begin() + k, cand.begin() + n, before);
      for (int64_t s = 0; s < k; ++s) {
        idx[r * k + s] = cand[s];
        val[r * k + s] = xr[cand[s]];
      }
    }
  }
  if (first_short_row < rows) {
    const uint8_t* mr = mask + first_short_row * cols;
    const int64_t allowed = std::count_if(mr, mr + cols, [](uint8_t m) { return m != 0; });
    fail(detail::cat("topk_rows: row ", first_short_row, " has ", allowed,
                     " allowed columns in its mask, fewer than k=", k),
         {}, "every row's mask must allow at least k columns");
  }
}

#define SADARI_INSTANTIATE(T)                                                          \
  template void topk_rows<T>(const T*, int64_t, int64_t, int64_t, int32_t*, T*,        \
                             const uint8_t*);
SADARI_INSTANTIATE(float)
SADARI_INSTANTIATE(double)
#undef SADARI_INSTANTIATE

}  // namespace sadari::cpu
