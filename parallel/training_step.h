// TrainingStep: one training step of any layout, the only place a step is
// written. `sadari train`, the benchmarks (bench/train_step_bench,
// bench/dp_step_bench) and the tests that train call it.
//
// A step, on every rank of world = pp x dp:
//   1. zero the gradients;
//   2. forward and backward of this rank's micro-batches through its pipeline
//      stages, by the rank's action list (parallel/pipeline_executor.h). pp = 1
//      is the one-stage 1F1B schedule: forward then backward of each micro-batch
//      in turn, the model being one stage that spans every block with the
//      embedding and the head. The losses are scaled by the GLOBAL batch
//      (ce: 1 / (global_batch x seq_len); aux: micro_batch / global_batch), so
//      summing the ranks' gradients gives the one-process gradient;
//   3. the step's statistics (loss and token sums, aux loss, dropped pairs) and
//      the router load counts summed over dp, then over pp (every rank reports
//      the global numbers); DualPipe's two copies of a stage sum their
//      gradients and counts (parallel/stage_copies.h);
//   4. the DistributedOptimizer: gradient reduction over dp / edp, global
//      norm, clipping, AdamW (ZeRO-1 or replicated) with the given learning rate;
//   5. the aux-loss-free router-bias update from the summed counts.
// Validation (forward_only) sends one micro-batch through every stage.
//
// Ownership: borrows the process groups and the expert setup (both must outlive
// it); reads the config only while it is constructed. Owns the parameters, the stages, the executor and the
// optimizer. Not thread-safe.
// COLLECTIVE over world: the constructor (the optimizer splits groups; the
// FLOP count is summed over pp), run() and forward_only().
#pragma once

#include <algorithm>
#include <memory>
#include <vector>

#include "comm/communicator.h"
#include "comm/process_groups.h"
#include "core/config.h"
#include "core/parameter.h"
#include "model/transformer_stage.h"
#include "parallel/distributed_optimizer.h"
#include "parallel/expert_setup.h"
#include "parallel/pipeline_executor.h"
#include "parallel/pipeline_schedule.h"

namespace sadari {

// Wall-clock seconds of the parts of one step on this rank (benchmarks report
// them; nothing depends on them). A part that starts with a collective also
// holds the wait for the slowest rank.
struct StepSeconds {
  double compute = 0;             // forward and backward of every micro-batch (with
                                  // the pipeline transfers and the expert all-to-all)
  double statistics = 0;          // loss and load-count sums over dp and pp
  double gradient_reduction = 0;  // DualPipe copies, then over dp / edp (buckets)
  double optimizer = 0;           // norm, clipping, AdamW, all-gather, router biases
  double total() const { return compute + statistics + gradient_reduction + optimizer; }
};

// What one step did, over the step's global batch: the same on every rank
// (but `seconds`, this rank's).
struct StepStats {
  double ce_sum = 0;         // cross-entropy summed over the batch's tokens
  double tokens = 0;         // tokens with a target
  double aux_loss = 0;       // the MoE aux losses, scaled as in the loss
  double dropped_pairs = 0;  // (token, slot) pairs over an expert's capacity
  double lr = 0;             // the learning rate the update used
  double grad_norm = 0;      // global gradient norm, before clipping
  double max_over_mean_load = 0;  // the worst MoE layer's max / mean expert load
  // This rank's blocks in model order (its chunks' blocks, chunk by chunk):
  // tokens per expert summed over dp (empty for dense blocks).
  std::vector<std::vector<int64_t>> expert_counts;
  StepSeconds seconds;

  double loss() const { return ce_sum / std::max(1.0, tokens); }
};

// The schedule a run executes: parallel.schedule over pp stages (x chunks), or
// for pp = 1 the one-stage 1F1B. Throws Error naming the config key when the
// schedule cannot run the step's micro-batch count. No communication.
PipelineSchedule pipeline_schedule_for(const Config& cfg);

class TrainingStep {
 public:
  // Fills micro-batch m (0-based) of this rank's slice of the step: ids and
  // targets, micro_batch x seq_len each.
  using FillFn = PipelineExecutor::FillFn;

  // ctx: where the model's and the optimizer's kernels run (kernels/ops.h).
  TrainingStep(const Config& cfg, ProcessGroups& groups, const ExpertSetup& experts,
               const ExecContext& ctx = ExecContext::cpu());
  ~TrainingStep();

  // One step with learning rate `lr`. COLLECTIVE over world.
  StepStats run(double lr, const FillFn& fill);

  // Validation forward of one micro-batch through the whole pipeline: ce_sum and
  // tokens of the rank holding the last stage (zeros elsewhere). COLLECTIVE over pp.
  ForwardResult forward_only(const FillFn& fill);

  // Forget the forward caches: after experts moved between ranks, their
  // dispatch states belong to the old dispatchers.
  void forget_caches();

  ParameterStore& params() { return params_; }
  DistributedOptimizer& optimizer() { return *optimizer_; }
  const PipelineSchedule& schedule() const { return schedule_; }
  const std::vector<StageSpan>& spans() const { return spans_; }  // every stage of the model
  int chunks() const { return static_cast<int>(stages_.size()); }
  TransformerStage<float>& stage(int chunk) { return *stages_[static_cast<size_t>(chunk)]; }
  bool has_stage_copies() const { return copies_ != nullptr; }  // DualPipe
  // Model FLOPs per trained token of the whole model (every stage once).
  double train_flops_per_token() const { return flops_per_token_; }
  const PipelineExecutor& executor() const { return *executor_; }

 private:
  ProcessGroups& groups_;
  const ExecContext ctx_;
  const PipelineSchedule schedule_;
  const std::vector<StageSpan> spans_;
  const float ce_scale_, aux_scale_;
  ParameterStore params_;
  std::vector<std::unique_ptr<TransformerStage<float>>> stages_;
  std::unique_ptr<PipelineExecutor> executor_;
  std::unique_ptr<DistributedOptimizer> optimizer_;
  std::unique_ptr<Communicator> copies_;  // DualPipe: the two holders of a stage
  double flops_per_token_ = 0;
};

}  // namespace sadari
