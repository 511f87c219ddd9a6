// SwiGLU feed-forward network: y = (silu(x Wg^T) * (x Wu^T)) Wd^T.
// Weights: gate_up [2F, D] (gate rows first, then up rows), down [D, F].
// Used by the dense FFN, the shared experts and every routed expert, so it is
// written on raw buffers: the MoE layer runs its experts (contiguous slices of the
// expert-sorted token buffer) and shared experts as one group (below).
//
// Forward saves gate_up_act [n, 2F] and h [n, F] (caller-provided buffers) for
// backward. Backward WRITES dx (or adds when accumulate_dx) and ACCUMULATES
// dw_gate_up and dw_down; scratch must hold n * 3F values.
#pragma once

#include <cstdint>
#include <string_view>

#include "model/compute_precision.h"
#include "model/weight_grad_tape.h"

namespace sadari {

// The precision of the FFN's two linear maps and their weights' names (for error
// messages); see model/linear.h. Default: f32.
struct SwigluNumerics {
  ComputePrecision precision = ComputePrecision::f32;
  std::string_view gate_up_name, down_name;  // borrowed
  ExecContext ctx;                           // where the FFN's kernels run

  LinearNumerics gate_up() const { return {precision, gate_up_name, ctx}; }
  LinearNumerics down() const { return {precision, down_name, ctx}; }
};

template <typename T>
void swiglu_ffn_forward(const T* x, const T* w_gate_up, const T* w_down, T* y, T* gate_up_act,
                        T* h, int64_t n, int64_t D, int64_t F, const SwigluNumerics& numerics = {});

template <typename T>
void swiglu_ffn_backward(const T* dy, const T* x, const T* w_gate_up, const T* w_down,
                         const T* gate_up_act, const T* h, T* dx, T* dw_gate_up, T* dw_down,
                         T* scratch, int64_t n, int64_t D, int64_t F, bool accumulate_dx = false,
                         const SwigluNumerics& numerics = {}, WeightGradTape<T>* tape = nullptr);

// One member of a group of SwiGLU FFNs that share the input width D but each have
// their own rows, weights and buffers (the routed experts of an MoE layer on
// their slices of the expert-sorted rows, plus the shared expert on all tokens).
// Fields are the arguments of swiglu_ffn_forward / swiglu_ffn_backward; the
// backward ones may stay unset for a forward.
template <typename T>
struct SwigluFfnMember {
  int64_t n = 0, F = 0;  // rows, hidden width
  const T* x = nullptr;
  const T* w_gate_up = nullptr;
  const T* w_down = nullptr;
  T* y = nullptr;
  T* gate_up_act = nullptr;
  T* h = nullptr;
  // Backward.
  const T* dy = nullptr;
  T* dx = nullptr;
  T* dw_gate_up = nullptr;
  T* dw_down = nullptr;
  T* dh = nullptr;        // scratch, n * F values
  T* dgate_up = nullptr;  // scratch, n * 2F values
  bool accumulate_dx = false;
  SwigluNumerics numerics;
};

// The group's forward / backward: bit for bit what swiglu_ffn_forward / _backward
// give when called on each member in turn, but each phase's GEMMs for all members
// run as one grouped GEMM (cpu::gemm_grouped, one parallel region) instead of one
// parallel region per GEMM. Members with n == 0 are skipped. A group with any
// non-f32 member runs member by member instead (the reduced-precision GEMMs of
// model/linear.h have no grouped form); the values are the same either way.
// REQUIRES: no member writes memory another member reads or writes.
template <typename T>
void swiglu_ffn_forward_grouped(const SwigluFfnMember<T>* members, int64_t count, int64_t D);
// tape: where the weight-gradient products go (nullptr: computed now).
template <typename T>
void swiglu_ffn_backward_grouped(const SwigluFfnMember<T>* members, int64_t count, int64_t D,
                                 WeightGradTape<T>* tape = nullptr);

}  // namespace sadari
