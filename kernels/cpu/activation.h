// Row softmax and elementwise sigmoid with their backward passes.
// softmax: x, y: [rows, cols]; numerically stable (max subtracted).
// Backward WRITES dx given y (the forward output) and dy.
// Row sums are accumulated in double. The float softmax uses a vectorised exp
// (kernels/cpu/vec_math.h, within ~1 ulp of std::exp).
#pragma once
#include <cstdint>

namespace sadari::cpu {

template <typename T>
void softmax_forward(const T* x, T* y, int64_t rows, int64_t cols);
template <typename T>
void softmax_backward(const T* dy, const T* y, T* dx, int64_t rows, int64_t cols);

template <typename T>
void sigmoid_forward(const T* x, T* y, int64_t n);
template <typename T>
void sigmoid_backward(const T* dy, const T* y, T* dx, int64_t n);

}  // namespace sadari::cpu
