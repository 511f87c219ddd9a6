// One pre-norm transformer block, DeepSeek-V3 layout:
//   h = x + Attention(RMSNorm(x))
//   y = h + FFN(RMSNorm(h))      FFN: dense SwiGLU for layer < first_dense_layers, else MoE
// Parameters "blocks.{l}.attn_norm.weight", "blocks.{l}.ffn_norm.weight" [D] (no weight
// decay), the attention's, and "blocks.{l}.ffn.{gate_up,down}" or the MoE layer's.
//
// Caller-owned Cache per in-flight micro-batch; the input x must stay alive until
// backward. Backward WRITES dx (which must not alias dy) and ACCUMULATES parameter
// gradients.
#pragma once

#include <memory>

#include "model/attention_layer.h"
#include "model/moe_layer.h"
#include "model/swiglu_ffn.h"

namespace sadari {

template <typename T>
class TransformerBlock {
 public:
  // dispatcher: the MoE token dispatcher (nullptr: the layer's local one). Not owned.
  // precision: the GEMMs of the attention projections, the dense FFN and the
  // experts (model/compute_precision.h); norms stay in T.
  TransformerBlock(const ModelConfig& cfg, int64_t layer, ParameterStore& params, uint64_t seed,
                   TokenDispatcher<T>* dispatcher = nullptr,
                   ComputePrecision precision = ComputePrecision::f32,
                   const ExecContext& ctx = ExecContext::cpu());

  struct Cache {
    const T* x = nullptr;
    int64_t batch = 0, seq = 0;
    Tensor attn_in, attn_rstd, attn_out, mid, ffn_in, ffn_rstd, ffn_out;
    Tensor ffn_gate_up, ffn_h, ffn_scratch;  // dense FFN
    Tensor d_mid, d_norm;                    // backward scratch
    typename AttentionLayer<T>::Cache attn;
    typename MoELayer<T>::Cache moe;
  };

  // Returns the MoE auxiliary loss of this micro-batch (0 for dense blocks).
  double forward(const T* x, T* y, int64_t batch, int64_t seq, Cache& cache) const;
  // aux_grad_scale: weight of this micro-batch's aux loss in the total loss.
  // tape: where the weight-gradient products go (nullptr: computed now).
  void backward(const T* dy, T* dx, Cache& cache, T aux_grad_scale,
                WeightGradTape<T>* tape = nullptr) const;

  bool is_moe() const { return moe_ != nullptr; }
  MoELayer<T>* moe() const { return moe_.get(); }
  double forward_flops_per_token(int64_t seq) const;

 private:
  SwigluNumerics dense_numerics() const {
    return {precision_, ffn_gate_up_->name, ffn_down_->name, ctx_};
  }

  int64_t D_, dense_F_;
  T eps_;
  ComputePrecision precision_;
  ExecContext ctx_;  // where the norms and residual adds run (kernels/ops.h)
  Parameter *attn_norm_, *ffn_norm_;
  Parameter *ffn_gate_up_ = nullptr, *ffn_down_ = nullptr;
  AttentionLayer<T> attn_;
  std::unique_ptr<MoELayer<T>> moe_;
  double moe_flops_per_token_ = 0;
};

}  // namespace sadari
