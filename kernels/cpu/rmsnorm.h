// RMSNorm over the last dimension: y = x / sqrt(mean(x^2) + eps) * w.
// x, y: [rows, dim]; w: [dim]; rstd: [rows] (saved for backward).
// Backward ACCUMULATES into dw (+=) and WRITES dx; dw may be null to skip it.
// Row sums are accumulated in double; dw is reduced over rows in row order by one
// thread per column, so results do not depend on the thread count.
#pragma once
#include <cstdint>

namespace sadari::cpu {

template <typename T>
void rmsnorm_forward(const T* x, const T* w, T* y, T* rstd, int64_t rows, int64_t dim, T eps);

template <typename T>
void rmsnorm_backward(const T* dy, const T* x, const T* w, const T* rstd, T* dx, T* dw,
                      int64_t rows, int64_t dim);

}  // namespace sadari::cpu
