// A bias-free linear map y = x W^T with W: [out, in] (the PyTorch/HF convention).
// x: [n, in], y: [n, out], row-major.
// backward: dx = dy W (written, or added when accumulate_dx), dW += dy^T x.
#pragma once

#include <cstdint>

namespace sadari {

template <typename T>
void linear_forward(const T* x, const T* W, T* y, int64_t n, int64_t in, int64_t out);

template <typename T>
void linear_backward(const T* dy, const T* x, const T* W, T* dx, T* dW, int64_t n, int64_t in,
                     int64_t out, bool accumulate_dx = false);

}  // namespace sadari
