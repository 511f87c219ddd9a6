// The whole language model, DeepSeek-V3 style, one process:
//   embedding -> blocks (dense for the first `first_dense_layers`, MoE after) ->
//   final RMSNorm -> output head -> cross-entropy.
// Parameters "embed.weight" [V, D], the blocks', "final_norm.weight" [D],
// "head.weight" [V, D] (untied).
//
// Forward and backward are explicit (no autograd) and keep their state in a
// caller-owned Cache, one per in-flight micro-batch. T is float (training) or
// double (gradient checks). Not thread-safe per Cache.
#pragma once

#include <vector>

#include "model/transformer_block.h"

namespace sadari {

struct ForwardResult {
  double ce_sum = 0;     // sum of token cross-entropies over counted targets (nats)
  int64_t tokens = 0;    // counted targets
  double aux_loss = 0;   // sum over MoE layers of their (alpha-weighted) aux losses
};

template <typename T>
class Transformer {
 public:
  // dispatcher: shared by every MoE layer (nullptr: each layer's local one). Not owned.
  Transformer(const ModelConfig& cfg, uint64_t seed, TokenDispatcher<T>* dispatcher = nullptr);

  struct Cache {
    const int32_t* ids = nullptr;
    const int32_t* targets = nullptr;
    int64_t batch = 0, seq = 0;
    std::vector<Tensor> residual;  // layers + 1 streams [n, D]; residual[0] = embeddings
    std::vector<typename TransformerBlock<T>::Cache> blocks;
    Tensor final_in, final_rstd, logits, lse;  // [n, D], [n], [n, V], [n]
    Tensor d_final, d_a, d_b, d_logits;        // backward scratch
  };

  // ids, targets: [batch * seq]; targets may hold -1 (ignored). ids/targets must
  // stay alive until backward. Throws Error for token ids outside the vocabulary.
  ForwardResult forward(const int32_t* ids, const int32_t* targets, int64_t batch, int64_t seq,
                        Cache& cache) const;
  // Gradient of  ce_scale * ce_sum + aux_scale * aux_loss  with respect to every
  // parameter, ACCUMULATED into the parameter gradients.
  void backward(Cache& cache, T ce_scale, T aux_scale) const;

  ParameterStore& params() { return params_; }
  const ParameterStore& params() const { return params_; }
  const ModelConfig& config() const { return cfg_; }
  const std::vector<TransformerBlock<T>>& blocks() const { return blocks_; }

  // Tokens routed to each expert in this forward, per MoE layer (empty for dense).
  std::vector<std::vector<int64_t>> expert_counts(const Cache& cache) const;
  // (token, slot) pairs dropped by the dispatcher's capacity limit in this forward,
  // summed over MoE layers (0 when dropless).
  int64_t dropped_pairs(const Cache& cache) const;
  // Aux-loss-free balancing after an optimizer step, with the step's summed counts.
  void update_router_biases(const std::vector<std::vector<int64_t>>& counts);

  // Model FLOPs per trained token (forward + backward = 3x forward), the
  // convention behind MFU figures; embedding lookups not counted.
  double train_flops_per_token(int64_t seq) const;

 private:
  ModelConfig cfg_;
  ParameterStore params_;
  Parameter *embed_, *final_norm_, *head_;
  std::vector<TransformerBlock<T>> blocks_;
};

}  // namespace sadari
