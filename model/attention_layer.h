// Causal multi-head self-attention with rotary position embedding.
//
//   q = rope(x Wq^T), k = rope(x Wk^T), v = x Wv^T      x: [batch*seq, D]
//   o = softmax(q k^T / sqrt(hd) + causal mask) v        per head
//   y = o Wo^T
// Parameters "blocks.{l}.attn.{wq,wk,wv}" [H*hd, D] and "blocks.{l}.attn.wo" [D, H*hd].
// Multi-head latent attention (MLA, attention: mla) is sized by the planners but
// not trainable yet; the constructor rejects it with a clear error.
//
// Forward keeps what backward needs in a caller-owned Cache (several micro-batches
// can be in flight under a pipeline schedule). Backward WRITES dx and ACCUMULATES
// parameter gradients. Not thread-safe per Cache; the layer itself is immutable.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/config.h"
#include "core/parameter.h"
#include "core/tensor.h"
#include "kernels/exec_context.h"
#include "model/compute_precision.h"
#include "model/weight_grad_tape.h"

namespace sadari {

template <typename T>
class AttentionLayer {
 public:
  // precision: the projections' GEMMs (model/compute_precision.h); the attention
  // math itself stays in T.
  AttentionLayer(const ModelConfig& cfg, int64_t layer, ParameterStore& params, uint64_t seed,
                 ComputePrecision precision = ComputePrecision::f32,
                 const ExecContext& ctx = ExecContext::cpu());

  struct Cache {
    const T* x = nullptr;  // the layer input; must stay alive until backward
    int64_t batch = 0, seq = 0;
    Tensor q, k, v, o;     // [n, H*hd] (q, k after RoPE)
    Tensor lse;            // [batch, H, seq]
    Tensor scratch;        // backward: dq, dk, dv, do  [4, n, H*hd]
  };

  void forward(const T* x, T* y, int64_t batch, int64_t seq, Cache& cache) const;
  // tape: where the projections' weight-gradient products go (nullptr: now).
  void backward(const T* dy, T* dx, Cache& cache, WeightGradTape<T>* tape = nullptr) const;

  // Multiply-add FLOPs of one forward per token at sequence length seq (2 per MAC),
  // causal attention counted as the half-triangle actually computed.
  double forward_flops_per_token(int64_t seq) const;

 private:
  LinearNumerics numerics(const Parameter* w) const { return {precision_, w->name, ctx_}; }
  int64_t D_, H_, hd_;
  double rope_theta_;
  ComputePrecision precision_;
  ExecContext ctx_;  // where RoPE and attention run (kernels/ops.h)
  Parameter *wq_, *wk_, *wv_, *wo_;
};

}  // namespace sadari
