// PipelineExecutor: runs one pipeline rank's action list (parallel/pipeline_schedule.h)
// for one training step, with the model stages of this rank's chunks
// (model/transformer_stage.h) and the pp group's point-to-point transfers.
//
// Data flow of one step, per action:
//   recv_activation / recv_gradient   wait for the transfer into the (chunk, micro-batch)
//                                     buffer: every irecv of the step is posted when the
//                                     step starts (each has its own buffer and tag), so
//                                     data arrives while this rank computes; the schedule
//                                     places the recv (the wait) right before the compute
//                                     that consumes it.
//   forward(m, c)                     stage input: micro-batch m's token ids (first
//                                     stage, filled by the caller's callback) or the
//                                     received residual; the last stage also gets
//                                     the targets and computes the cross-entropy.
//                                     A forward whose next stage is on this rank hands
//                                     its output over locally (no message).
//   send_activation / send_gradient   isend of the stage output / input gradient held
//                                     in the micro-batch's cache; completed (waited)
//                                     at the end of the step, so a send never blocks,
//                                     as the schedule's semantics require.
//   backward(m, c)                    full backward: input and weight gradients.
//   backward_input(m, c)              B: the input gradient (sent on at once) and the
//                                     norm weights' gradients; the weight-gradient
//                                     GEMMs are recorded (TransformerStage::backward_input)
//   backward_weight(m, c)             W: ... and computed here, bit for bit the
//                                     gradients of the full backward.
// Messages are matched by PipelineSchedule::message_tag on the pp communicator.
//
// Loss scaling: the last stage's backward weights its cross-entropy sum by
// ce_scale, every stage its MoE aux losses by aux_scale (the one-process
// trainer's scales), so the gradients are exactly the one-process ones.
//
// Live activations: a micro-batch's chunk is live from its forward until its
// backward is complete (after `backward`, or after `backward_weight` when the
// schedule splits it). peak_live_activations() is the largest number of live
// (micro-batch, chunk) pairs on this rank during the last step: what the
// simulator (parallel/pipeline_simulator.h) predicts as peak in-flight activations.
//
// Memory: a micro-batch's forward cache (its activations) is taken from a
// per-chunk pool at its forward and returned when its backward is complete, so
// a rank holds as many caches as its peak of live activations (1F1B: about
// P - rank, GPipe: M), not one per micro-batch. A returned cache's pending
// sends are waited on before it is reused.
//
// Ownership: borrows the schedule, the stages and the pp communicator (must
// outlive the executor). Owns the cache pools and, per (chunk, micro-batch),
// the token and received-tensor buffers. Not thread-safe.
// COLLECTIVE-like: run_step and forward_only must be called on every rank of
// the pp group (and, through the MoE layers, of the ep group) in the same order.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "comm/communicator.h"
#include "model/transformer_stage.h"
#include "parallel/pipeline_schedule.h"

namespace sadari {

// What one rank saw in one step (sums over its micro-batches and chunks).
struct PipelineStepStats {
  double ce_sum = 0;      // last stage only
  double tokens = 0;      // last stage only
  double aux_loss = 0;    // unscaled sum of this rank's MoE aux losses
  double dropped_pairs = 0;
  // Per chunk, per block of the chunk: tokens routed to each expert, summed over
  // the step's micro-batches.
  std::vector<std::vector<std::vector<int64_t>>> expert_counts;
  // Wall-clock seconds of the whole step on this rank and of its compute actions
  // (forward, backward, B, W): 1 - compute / step is the measured bubble
  // fraction, to set against the simulator's (benchmarks only; never asserted).
  double step_seconds = 0;
  double compute_seconds = 0;
};

class PipelineExecutor {
 public:
  // Fills micro-batch `microbatch` of the step: ids and targets, micro x seq each.
  using FillFn = std::function<void(int microbatch, int32_t* ids, int32_t* targets)>;

  // stages[c]: the model stage of this rank's chunk c (stage
  // schedule.stage_of(rank, c)). pp: the pipeline group (rank() == `rank`).
  PipelineExecutor(const PipelineSchedule& schedule, int rank,
                   std::vector<TransformerStage<float>*> stages, Communicator& pp,
                   int64_t micro_batch, int64_t seq, int64_t hidden);

  // One step: every forward and backward of the rank's action list, gradients
  // ACCUMULATED into the stages' parameters. Waits for all its sends before returning.
  PipelineStepStats run_step(const FillFn& fill, float ce_scale, float aux_scale);

  // Forward of one micro-batch through the whole pipeline (validation): every
  // stage in order, blocking transfers. Returns ce_sum and tokens on the rank
  // holding the last stage (zeros elsewhere).
  ForwardResult forward_only(const FillFn& fill);

  int peak_live_activations() const { return peak_live_; }

  // Drops the pooled forward caches (after waiting for their sends): after
  // experts moved between ranks, their dispatch states belong to old dispatchers.
  void forget_caches();

 private:
  struct PooledCache {
    typename TransformerStage<float>::Cache cache;
    std::vector<std::unique_ptr<Request>> sends;  // isends reading from the cache
  };
  struct Slot {  // one (chunk, micro-batch)
    std::unique_ptr<PooledCache> live;  // from forward until the backward is complete
    // Backward complete but its input gradient not yet sent (the send follows
    // the backward in the list, possibly after an overlapped forward).
    std::unique_ptr<PooledCache> awaiting_send;
    std::vector<int32_t> ids, targets;
    std::vector<float> activation_in, gradient_in;  // [n, D] received (or handed over)
  };
  Slot& slot(int chunk, int microbatch);
  std::unique_ptr<PooledCache> acquire_cache(int chunk);
  void release_cache(int chunk, std::unique_ptr<PooledCache> cache);
  void forward(const Action& a, const FillFn& fill, PipelineStepStats& stats);
  void backward(const Action& a, float ce_scale, float aux_scale);
  void post_receives();
  void transfer(const Action& a, size_t index);
  void complete(const Action& a);  // the micro-batch's backward is done: free its cache

  const PipelineSchedule& schedule_;
  int rank_;
  std::vector<TransformerStage<float>*> stages_;
  Communicator& pp_;
  int64_t micro_, seq_, hidden_;
  std::vector<std::vector<Slot>> slots_;  // [chunk][micro-batch]
  std::vector<std::vector<std::unique_ptr<PooledCache>>> free_caches_;  // [chunk]
  std::vector<std::unique_ptr<Request>> posted_recvs_;  // by action index; null: not a recv
  int live_ = 0, peak_live_ = 0;
};

}  // namespace sadari
