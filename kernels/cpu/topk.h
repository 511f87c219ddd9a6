// Per-row top-k: the k largest of each row of x: [rows, cols], in descending
// order of value; ties go to the lower column index, so selection is deterministic.
// idx: [rows, k] (int32), val: [rows, k]. REQUIRES 0 < k <= cols.
// An optional `mask` ([rows, cols], 1 = allowed, 0 = excluded) restricts the
// candidates; a row must have at least k allowed columns.
// Throws Error for k outside (0, cols] and for a row with fewer than k allowed
// columns (naming the row). NaN ranks below every number, -inf included.
#pragma once
#include <cstdint>

namespace sadari::cpu {

template <typename T>
void topk_rows(const T* x, int64_t rows, int64_t cols, int64_t k, int32_t* idx, T* val,
               const uint8_t* mask = nullptr);

}  // namespace sadari::cpu
