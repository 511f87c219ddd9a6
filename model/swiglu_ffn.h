// SwiGLU feed-forward network: y = (silu(x Wg^T) * (x Wu^T)) Wd^T.
// Weights: gate_up [2F, D] (gate rows first, then up rows), down [D, F].
// Used by the dense FFN, the shared experts and every routed expert, so it is
// written on raw buffers: the MoE layer calls it per expert on contiguous slices
// of the expert-sorted token buffer.
//
// Forward saves gate_up_act [n, 2F] and h [n, F] (caller-provided buffers) for
// backward. Backward WRITES dx (or adds when accumulate_dx) and ACCUMULATES
// dw_gate_up and dw_down; scratch must hold n * 3F values.
#pragma once

#include <cstdint>

namespace sadari {

template <typename T>
void swiglu_ffn_forward(const T* x, const T* w_gate_up, const T* w_down, T* y, T* gate_up_act,
                        T* h, int64_t n, int64_t D, int64_t F);

template <typename T>
void swiglu_ffn_backward(const T* dy, const T* x, const T* w_gate_up, const T* w_down,
                         const T* gate_up_act, const T* h, T* dx, T* dw_gate_up, T* dw_down,
                         T* scratch, int64_t n, int64_t D, int64_t F, bool accumulate_dx = false);

}  // namespace sadari
