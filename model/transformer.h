// The whole language model, DeepSeek-V3 style, one process:
//   embedding -> blocks (dense for the first `first_dense_layers`, MoE after) ->
//   final RMSNorm -> output head -> cross-entropy.
// Parameters "embed.weight" [V, D], the blocks', "final_norm.weight" [D],
// "head.weight" [V, D] (untied).
//
// Forward and backward are explicit (no autograd) and keep their state in a
// caller-owned Cache, one per in-flight micro-batch. T is float (training) or
// double (gradient checks). Not thread-safe per Cache.
//
// The arithmetic lives in one place: the model is the single pipeline stage
// that spans every block, with the embedding and the head
// (model/transformer_stage.h), over a parameter store this object owns. So the
// one-process model and a pipeline of stages run the same code.
#pragma once

#include <vector>

#include "model/transformer_stage.h"

namespace sadari {

template <typename T>
class Transformer {
 public:
  // dispatcher: shared by every MoE layer (nullptr: each layer's local one). Not owned.
  // precision: the blocks' linear layers (model/compute_precision.h).
  // ctx: where the model's kernels run (kernels/ops.h).
  Transformer(const ModelConfig& cfg, uint64_t seed, TokenDispatcher<T>* dispatcher = nullptr,
              ComputePrecision precision = ComputePrecision::f32,
              const ExecContext& ctx = ExecContext::cpu());

  // residual: layers + 1 streams [n, D], residual[0] = embeddings; blocks: per layer.
  using Cache = typename TransformerStage<T>::Cache;

  // ids, targets: [batch * seq]; targets may hold -1 (ignored). ids/targets must
  // stay alive until backward. Throws Error for token ids outside the vocabulary.
  ForwardResult forward(const int32_t* ids, const int32_t* targets, int64_t batch, int64_t seq,
                        Cache& cache) const {
    return whole_.forward(ids, nullptr, targets, batch, seq, cache);
  }
  // Gradient of  ce_scale * ce_sum + aux_scale * aux_loss  with respect to every
  // parameter, ACCUMULATED into the parameter gradients.
  void backward(Cache& cache, T ce_scale, T aux_scale) const {
    whole_.backward(nullptr, cache, ce_scale, aux_scale);
  }

  ParameterStore& params() { return params_; }
  const ParameterStore& params() const { return params_; }
  const ModelConfig& config() const { return cfg_; }
  const std::vector<TransformerBlock<T>>& blocks() const { return whole_.blocks(); }

  // Tokens routed to each expert in this forward, per MoE layer (empty for dense).
  std::vector<std::vector<int64_t>> expert_counts(const Cache& cache) const {
    return whole_.expert_counts(cache);
  }
  // (token, slot) pairs dropped by the dispatcher's capacity limit in this forward,
  // summed over MoE layers (0 when dropless).
  int64_t dropped_pairs(const Cache& cache) const { return whole_.dropped_pairs(cache); }
  // Aux-loss-free balancing after an optimizer step, with the step's summed counts.
  void update_router_biases(const std::vector<std::vector<int64_t>>& counts) {
    whole_.update_router_biases(counts);
  }

  // Model FLOPs per trained token (forward + backward = 3x forward), the
  // convention behind MFU figures; embedding lookups not counted.
  double train_flops_per_token(int64_t seq) const { return whole_.train_flops_per_token(seq); }

 private:
  ModelConfig cfg_;
  ParameterStore params_;         // declared before whole_: it is created first
  TransformerStage<T> whole_;     // every block, embedding and head; parameters in params_
};

}  // namespace sadari
