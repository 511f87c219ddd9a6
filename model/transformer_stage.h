// One pipeline stage of the Transformer (model/transformer.h): a contiguous
// range of blocks, with the embedding when it is the first stage and the final
// RMSNorm, head and cross-entropy when it is the last.
//
//   first stage:   ids            -> embedding -> blocks[first, end) -> residual out [n, D]
//   middle stage:  residual in    -> blocks[first, end)              -> residual out [n, D]
//   last stage:    residual in    -> blocks[first, end) -> final norm -> head -> CE
//   (a single stage that is both first and last is the whole model)
// Backward mirrors it: a non-last stage takes the gradient of its output
// residual, a non-first stage produces the gradient of its input residual.
//
// Parameters are created in a caller-owned ParameterStore with the one-process
// model's global names and initialisation ("embed.weight", "blocks.{l}.*",
// "final_norm.weight", "head.weight"), in the one-process order, so a stage
// starts from exactly the one-process weights. Several stages (the chunks of
// one pipeline rank) may share one store.
//
// Numerics: Transformer is the one stage spanning the whole model, so running
// the stages 0..S-1 in sequence, handing the residual stream and its gradient
// over by hand, reproduces Transformer::forward/backward bit for bit
// (tests/pipeline_exec/transformer_stage_test.cpp).
//
// Backward runs in one pass (backward) or split in two (backward_input, then
// backward_weight), for zero-bubble pipeline schedules: backward_input computes
// the input gradient (and the cheap norm weights' gradients) and records the
// weight-gradient products of the linear layers, experts, router, head and the
// embedding on the cache's WeightGradTape (model/weight_grad_tape.h);
// backward_weight computes them. Both ways give the same gradients bit for bit.
//
// Caches are caller-owned, one per in-flight micro-batch; the stage itself is
// immutable during a step (update_router_biases between steps). Not thread-safe
// per Cache.
#pragma once

#include <vector>

#include "core/stage_span.h"
#include "kernels/exec_context.h"
#include "model/transformer_block.h"
#include "model/weight_grad_tape.h"

namespace sadari {

struct ForwardResult {
  double ce_sum = 0;     // sum of token cross-entropies over counted targets (nats)
  int64_t tokens = 0;    // counted targets
  double aux_loss = 0;   // sum over MoE layers of their (alpha-weighted) aux losses
};

// Adds per-block expert counts (the layout of TransformerStage::expert_counts)
// into `sum`; an empty `sum` becomes a copy. REQUIRES: the same layout otherwise.
void add_expert_counts(std::vector<std::vector<int64_t>>& sum,
                       const std::vector<std::vector<int64_t>>& counts);

template <typename T>
class TransformerStage {
 public:
  // params: where this stage's parameters are created (borrowed; must outlive
  // the stage). dispatcher: shared by the stage's MoE layers (nullptr: local).
  // REQUIRES: 0 <= span.first, span.end() <= cfg.layers, span.count >= 1.
  // precision: the blocks' linear layers (model/compute_precision.h); embedding,
  // final norm and head stay in T.
  // ctx: where the stage's kernels run (kernels/ops.h).
  TransformerStage(const ModelConfig& cfg, const StageSpan& span, ParameterStore& params,
                   uint64_t seed, TokenDispatcher<T>* dispatcher = nullptr,
                   ComputePrecision precision = ComputePrecision::f32,
                   const ExecContext& ctx = ExecContext::cpu());

  struct Cache {
    const int32_t* ids = nullptr;      // first stage
    const int32_t* targets = nullptr;  // last stage
    int64_t batch = 0, seq = 0;
    std::vector<Tensor> residual;  // count + 1 streams [n, D]; [0] = the stage input
    std::vector<typename TransformerBlock<T>::Cache> blocks;
    Tensor final_in, final_rstd, logits, lse;  // last stage
    Tensor d_final, d_a, d_b, d_logits;        // backward scratch
    T* d_input = nullptr;                      // into d_a, d_b or d_stream[0] after backward
    // Split backward: the gradient of every residual stream (count + 1), kept
    // until backward_weight because recorded products read them, and the tape.
    std::vector<Tensor> d_stream;
    WeightGradTape<T> tape;
  };

  // Forward of one micro-batch of batch x seq tokens.
  //   ids:     [n] token ids; read by the first stage only (must stay alive until backward).
  //   x:       [n, D] input residual; read by non-first stages (copied into the cache).
  //   targets: [n] (-1: ignored); read by the last stage only (must stay alive until backward).
  // Returns ce_sum and tokens (last stage; 0 elsewhere) and the aux loss of this
  // stage's MoE layers. The output residual is output(cache) (non-last stages).
  ForwardResult forward(const int32_t* ids, const T* x, const int32_t* targets, int64_t batch,
                        int64_t seq, Cache& cache) const;
  const T* output(const Cache& cache) const { return cache.residual.back().template data<T>(); }

  // Backward of the loss  ce_scale * ce_sum (last stage) + aux_scale * aux (this
  // stage's MoE layers) + <d_output, output> (non-last stages).
  //   d_output: [n, D] gradient of output(cache); ignored by the last stage.
  // ACCUMULATES parameter gradients. A non-first stage leaves the gradient of its
  // input residual in input_grad(cache) (valid until the next backward on the cache).
  void backward(const T* d_output, Cache& cache, T ce_scale, T aux_scale) const;
  const T* input_grad(const Cache& cache) const { return cache.d_input; }

  // backward() in two parts: backward_input leaves input_grad(cache) and records
  // the weight gradients, which backward_weight (REQUIRES: after backward_input
  // on this cache, before the next forward on it) ACCUMULATES.
  void backward_input(const T* d_output, Cache& cache, T ce_scale, T aux_scale) const;
  void backward_weight(Cache& cache) const;

  const StageSpan& span() const { return span_; }
  const std::vector<TransformerBlock<T>>& blocks() const { return blocks_; }

  // Per block of this stage (span order): tokens routed to each expert in this
  // forward (empty for dense blocks).
  std::vector<std::vector<int64_t>> expert_counts(const Cache& cache) const;
  int64_t dropped_pairs(const Cache& cache) const;
  // Aux-loss-free balancing with the step's summed counts (layout of expert_counts).
  void update_router_biases(const std::vector<std::vector<int64_t>>& counts);

  // Model FLOPs per trained token of this stage (3x forward; as Transformer's).
  double train_flops_per_token(int64_t seq) const;

 private:
  // The gradient of the last block's output into d_top [n, D]: through the
  // loss, head and final norm on the last stage (accumulating their weight
  // gradients, or recording the head's on an active tape), else d_output copied.
  // tape: where the head's weight-gradient product goes (nullptr: computed now).
  void output_grad(const T* d_output, Cache& cache, T ce_scale, T* d_top,
                   WeightGradTape<T>* tape) const;
  // The head stays in full precision (DeepSeek-V3's recipe).
  LinearNumerics head_numerics() const { return {ComputePrecision::f32, head_->name, ctx_}; }

  ModelConfig cfg_;
  StageSpan span_;
  ExecContext ctx_;
  Parameter *embed_ = nullptr, *final_norm_ = nullptr, *head_ = nullptr;
  std::vector<TransformerBlock<T>> blocks_;
};

}  // namespace sadari
