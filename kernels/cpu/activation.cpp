#include "kernels/cpu/activation.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "kernels/cpu/vec_math.h"

namespace sadari::cpu {

namespace {

constexpr int64_t kParallelMin = 1 << 15;

using vecmath::stable_sigmoid;

}  // namespace

template <typename T>
void softmax_forward(const T* x, T* y, int64_t rows, int64_t cols) {
  SADARI_CHECK(rows >= 0 && cols > 0, "softmax_forward: bad shape rows=", rows, " cols=", cols);
#pragma omp parallel for if (rows * cols >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    T* yr = y + r * cols;
    const T m = *std::max_element(xr, xr + cols);
    vecmath::exp_shifted(xr, m, yr, cols);
    const double sum = vecmath::sum_double(yr, cols);
    const T inv = T(1.0 / sum);
    for (int64_t j = 0; j < cols; ++j) yr[j] *= inv;
  }
}

// dx_j = y_j (dy_j - sum_i dy_i y_i)
template <typename T>
void softmax_backward(const T* dy, const T* y, T* dx, int64_t rows, int64_t cols) {
  SADARI_CHECK(rows >= 0 && cols > 0, "softmax_backward: bad shape rows=", rows, " cols=", cols);
#pragma omp parallel for if (rows * cols >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const T* dyr = dy + r * cols;
    const T* yr = y + r * cols;
    T* dxr = dx + r * cols;
    double dot = 0;
    for (int64_t j = 0; j < cols; ++j) dot += double(dyr[j]) * double(yr[j]);
    const T d = T(dot);
    for (int64_t j = 0; j < cols; ++j) dxr[j] = yr[j] * (dyr[j] - d);
  }
}

template <typename T>
void sigmoid_forward(const T* x, T* y, int64_t n) {
  SADARI_CHECK(n >= 0, "sigmoid_forward: negative n=", n);
#pragma omp parallel for if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = stable_sigmoid(x[i]);
}

// dx = dy y (1 - y)
template <typename T>
void sigmoid_backward(const T* dy, const T* y, T* dx, int64_t n) {
  SADARI_CHECK(n >= 0, "sigmoid_backward: negative n=", n);
#pragma omp parallel for if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * y[i] * (T(1) - y[i]);
}

#define SADARI_INSTANTIATE(T)                                                   \
  template void softmax_forward<T>(const T*, T*, int64_t, int64_t);             \
  template void softmax_backward<T>(const T*, const T*, T*, int64_t, int64_t);  \
  template void sigmoid_forward<T>(const T*, T*, int64_t);                      \
  template void sigmoid_backward<T>(const T*, const T*, T*, int64_t);
SADARI_INSTANTIATE(float)
SADARI_INSTANTIATE(double)
#undef SADARI_INSTANTIATE

}  // namespace sadari::cpu
