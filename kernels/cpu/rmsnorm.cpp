#include "kernels/cpu/rmsnorm.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace sadari::cpu {

namespace {
// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelMin = 1 << 15;
// dw is reduced over rows per column block; the block width only changes which
// thread owns a column, never the order in which that column's rows are summed.
constexpr int64_t kColumnBlock = 64;
}  // namespace

template <typename T>
void rmsnorm_forward(const T* x, const T* w, T* y, T* rstd, int64_t rows, int64_t dim, T eps) {
  SADARI_CHECK(rows >= 0 && dim > 0, "rmsnorm_forward: bad shape rows=", rows, " dim=", dim);
#pragma omp parallel for if (rows * dim >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * dim;
    T* yr = y + r * dim;
    double ss = 0;
    for (int64_t j = 0; j < dim; ++j) ss += double(xr[j]) * double(xr[j]);
    const T rs = T(1.0 / std::sqrt(ss / double(dim) + double(eps)));
    rstd[r] = rs;
    for (int64_t j = 0; j < dim; ++j) yr[j] = xr[j] * rs * w[j];
  }
}

// With r = rstd and y_j = x_j r w_j, r = (mean(x^2) + eps)^(-1/2):
//   dx_j = r w_j dy_j - (r^3 / dim) x_j sum_i(dy_i w_i x_i)
//   dw_j += sum_rows dy_j x_j r
template <typename T>
void rmsnorm_backward(const T* dy, const T* x, const T* w, const T* rstd, T* dx, T* dw,
                      int64_t rows, int64_t dim) {
  SADARI_CHECK(rows >= 0 && dim > 0, "rmsnorm_backward: bad shape rows=", rows, " dim=", dim);
  const bool parallel = rows * dim >= kParallelMin;
#pragma omp parallel for if (parallel)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * dim;
    const T* dyr = dy + r * dim;
    T* dxr = dx + r * dim;
    double dot = 0;
    for (int64_t j = 0; j < dim; ++j) dot += double(dyr[j]) * double(w[j]) * double(xr[j]);
    const T rs = rstd[r];
    const T c = T(double(rs) * double(rs) * double(rs) * dot / double(dim));
    for (int64_t j = 0; j < dim; ++j) dxr[j] = rs * w[j] * dyr[j] - c * xr[j];
  }
  if (!dw) return;
  const int64_t blocks = (dim + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel for if (parallel)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t j0 = b * kColumnBlock, j1 = std::min(dim, j0 + kColumnBlock);
    double acc[kColumnBlock] = {};
    for (int64_t r = 0; r < rows; ++r) {
      const double rs = double(rstd[r]);
      const T* xr = x + r * dim;
      const T* dyr = dy + r * dim;
      for (int64_t j = j0; j < j1; ++j) acc[j - j0] += double(dyr[j]) * double(xr[j]) * rs;
    }
    for (int64_t j = j0; j < j1; ++j) dw[j] += T(acc[j - j0]);
  }
}

#define SADARI_INSTANTIATE(T)                                                               \
  template void rmsnorm_forward<T>(const T*, const T*, T*, T*, int64_t, int64_t, T);        \
  template void rmsnorm_backward<T>(const T*, const T*, const T*, const T*, T*, T*, int64_t, \
                                    int64_t);
SADARI_INSTANTIATE(float)
SADARI_INSTANTIATE(double)
#undef SADARI_INSTANTIATE

}  // namespace sadari::cpu
