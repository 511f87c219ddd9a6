// SwiGLU gate on the fused first FFN projection:
// gate_up: [rows, 2F], gate in columns [0, F), up in [F, 2F); h: [rows, F],
// h = silu(gate) * up.
// Backward WRITES dgate_up: [rows, 2F].
#pragma once
#include <cstdint>

namespace sadari::cpu {

template <typename T>
void swiglu_forward(const T* gate_up, T* h, int64_t rows, int64_t F);

template <typename T>
void swiglu_backward(const T* dh, const T* gate_up, T* dgate_up, int64_t rows, int64_t F);

}  // namespace sadari::cpu
