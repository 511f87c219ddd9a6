// A bias-free linear map y = x W^T with W: [out, in] (the PyTorch/HF convention).
// x: [n, in], y: [n, out], row-major.
// backward: dx = dy W (written, or added when accumulate_dx), dW += dy^T x.
//
// numerics.precision (model/compute_precision.h) picks the arithmetic of all three
// products: f32 (sgemm), bf16 (operands rounded to bf16, fp32 accumulation) or
// fp8 (kernels/cpu/fp8_linear.h: x and dy in 1x128 tiles, W in 128x128 blocks,
// re-quantised from the fp32 master weight at every call, so forward and backward
// see the same codes). Inputs, outputs and gradients are fp32 in every mode.
// REQUIRES for bf16 and fp8: T = float (Error otherwise).
//
// Split backward: given a tape (model/weight_grad_tape.h), the dW product is
// recorded on it instead of computed, in every mode; x and dy must then stay
// alive and unchanged until the tape runs. Without one (nullptr) dW is computed now.
// Errors: fp8 with a non-finite x or dy throws Error naming numerics.weight_name
// (".x", ".dy", ...) and the element.
#pragma once

#include <cstdint>

#include "model/compute_precision.h"
#include "model/weight_grad_tape.h"

namespace sadari {

template <typename T>
void linear_forward(const T* x, const T* W, T* y, int64_t n, int64_t in, int64_t out,
                    const LinearNumerics& numerics = {});

template <typename T>
void linear_backward(const T* dy, const T* x, const T* W, T* dx, T* dW, int64_t n, int64_t in,
                     int64_t out, bool accumulate_dx = false, const LinearNumerics& numerics = {},
                     WeightGradTape<T>* tape = nullptr);

}  // namespace sadari
