#include "parallel/training_step.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>

#include "core/error.h"
#include "parallel/pipeline_generators.h"
#include "parallel/stage_copies.h"
#include "parallel/stage_partition.h"

namespace sadari {

namespace {

// Largest max/mean expert load over MoE layers (one layer: max count x experts / total).
double max_over_mean_load(const std::vector<std::vector<int64_t>>& counts) {
  double worst = 0;
  for (const auto& layer : counts) {
    if (layer.empty()) continue;
    int64_t total = 0, peak = 0;
    for (int64_t c : layer) {
      total += c;
      peak = std::max(peak, c);
    }
    if (total > 0)
      worst = std::max(worst, static_cast<double>(peak) * static_cast<double>(layer.size()) /
                                  static_cast<double>(total));
  }
  return worst;
}

// Load statistics of the whole global batch: every rank gets the same sums, so
// the aux-loss-free bias moves identically everywhere. COLLECTIVE over dp.
void sum_counts_over(Communicator& dp, std::vector<std::vector<int64_t>>& counts) {
  std::vector<int64_t> flat;
  for (const auto& layer : counts) flat.insert(flat.end(), layer.begin(), layer.end());
  dp.all_reduce(flat.data(), static_cast<int64_t>(flat.size()), ReduceOp::sum);
  size_t i = 0;
  for (auto& layer : counts)
    for (auto& c : layer) c = flat[i++];
}

std::vector<StageSpan> spans_for(const Config& cfg) {
  if (cfg.parallel.pp == 1)
    return {StageSpan{0, cfg.model.layers, /*has_embedding=*/true, /*has_head=*/true}};
  return partition_stages(cfg);
}

}  // namespace

PipelineSchedule pipeline_schedule_for(const Config& cfg) {
  const ParallelConfig& p = cfg.parallel;
  const int64_t microbatches = cfg.train.global_batch / (cfg.train.micro_batch * p.dp);
  ScheduleRequest request;
  // One stage: forward then backward of each micro-batch, whatever
  // parallel.schedule names (it only matters with stages to fill).
  request.kind = p.pp == 1 ? ScheduleKind::one_f_one_b
                           : parse_schedule_kind(p.schedule, cfg.where("parallel.schedule"));
  request.ranks = static_cast<int>(p.pp);
  request.microbatches = static_cast<int>(microbatches);
  request.chunks_per_rank = p.pp == 1 ? 1 : static_cast<int>(p.chunks);
  ScheduleOptionNames names;
  names.kind = "parallel.schedule";
  names.ranks = "parallel.pp";
  names.microbatches = "global_batch / (micro_batch x dp)";
  names.chunks = "parallel.chunks";
  std::optional<PipelineSchedule> schedule;
  try {
    schedule.emplace(generate_schedule(request, cfg.where("parallel.schedule"), names));
  } catch (const Error& e) {
    fail(detail::cat("schedule ", p.schedule, " cannot run ", microbatches,
                     " micro-batches per step on pp = ", p.pp, ": ", e.what_failed()),
         cfg.where("train.micro_batch"), e.hint());
  }
  // Message tags (PipelineSchedule::message_tag) must fit MPI's guaranteed range;
  // one stage sends nothing.
  if (p.pp > 1 && static_cast<int64_t>(schedule->microbatches()) * schedule->num_stages() > 16383)
    fail(detail::cat(schedule->microbatches(), " micro-batches x ", schedule->num_stages(),
                     " stages is more than the pipeline's message tags can tell apart (16383)"),
         cfg.where("train.micro_batch"), "raise train.micro_batch to run fewer micro-batches");
  return std::move(*schedule);
}

TrainingStep::TrainingStep(const Config& cfg, ProcessGroups& groups, const ExpertSetup& experts,
                           const ExecContext& ctx)
    : groups_(groups),
      ctx_(ctx),
      schedule_(pipeline_schedule_for(cfg)),
      spans_(spans_for(cfg)),
      ce_scale_(1.0f / static_cast<float>(cfg.train.global_batch * cfg.train.seq_len)),
      aux_scale_(static_cast<float>(cfg.train.micro_batch) /
                 static_cast<float>(cfg.train.global_batch)),
      params_(DType::f32) {
  SADARI_ASSERT(static_cast<int>(spans_.size()) == schedule_.num_stages());
  Communicator& pp = *groups.pp;
  const ComputePrecision precision = precision_of(cfg);
  std::vector<TransformerStage<float>*> chunks;
  for (int c = 0; c < schedule_.chunks_per_rank(); ++c) {
    const StageSpan& span = spans_[static_cast<size_t>(schedule_.stage_of(pp.rank(), c))];
    stages_.push_back(std::make_unique<TransformerStage<float>>(
        cfg.model, span, params_, cfg.train.seed, experts.dispatcher.get(), precision, ctx_));
    chunks.push_back(stages_.back().get());
  }
  executor_ = std::make_unique<PipelineExecutor>(schedule_, pp.rank(), chunks, pp,
                                                 cfg.train.micro_batch, cfg.train.seq_len,
                                                 cfg.model.hidden);
  // Replicated experts (placements with several replicas of one expert) get
  // their gradients summed over the replicas too; see DistributedOptimizer.
  optimizer_ = std::make_unique<DistributedOptimizer>(
      cfg.optim, cfg.parallel, params_, groups,
      experts.placement ? &*experts.placement : nullptr, ctx_);
  if (schedule_.kind() == ScheduleKind::dualpipe) {
    copies_ = make_stage_copy_group(pp);
    optimizer_->set_pipeline_copies(2);
  }
  // Model FLOPs per token: every stage once, summed over the pipeline.
  for (const auto& stage : stages_) flops_per_token_ += stage->train_flops_per_token(cfg.train.seq_len);
  if (pp.size() > 1) pp.all_reduce(&flops_per_token_, 1, ReduceOp::sum);
  if (copies_) flops_per_token_ /= 2;
}

TrainingStep::~TrainingStep() = default;

StepStats TrainingStep::run(double lr, const FillFn& fill) {
  using Clock = std::chrono::steady_clock;
  const auto seconds_since = [](Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  };
  Communicator& dp = *groups_.dp;
  Communicator& pp = *groups_.pp;
  StepStats stats;
  auto start = Clock::now();
  params_.zero_grad();
  const PipelineStepStats local = executor_->run_step(fill, ce_scale_, aux_scale_);
  stats.seconds.compute = seconds_since(start);
  start = Clock::now();
  // ce and tokens live on the last stage, aux losses on every MoE stage.
  double sums[4] = {local.ce_sum, local.tokens, local.aux_loss * aux_scale_, local.dropped_pairs};
  dp.all_reduce(sums, 4, ReduceOp::sum);
  if (pp.size() > 1) pp.all_reduce(sums, 4, ReduceOp::sum);
  stats.ce_sum = sums[0];
  stats.tokens = sums[1];
  stats.aux_loss = sums[2];
  stats.dropped_pairs = sums[3];

  std::vector<std::vector<std::vector<int64_t>>> counts = local.expert_counts;  // [chunk][block]
  for (auto& chunk_counts : counts) sum_counts_over(dp, chunk_counts);
  stats.seconds.statistics = seconds_since(start);
  start = Clock::now();
  if (copies_) {
    sum_gradients_over_copies(params_, *copies_);
    // Both ranks of a pair list their two stages in stage order.
    const bool swapped = schedule_.stage_of(pp.rank(), 0) > schedule_.stage_of(pp.rank(), 1);
    if (swapped) std::swap(counts[0], counts[1]);
    sum_counts_over_copies(counts, *copies_);
    if (swapped) std::swap(counts[0], counts[1]);
  }
  for (const auto& chunk_counts : counts)
    stats.expert_counts.insert(stats.expert_counts.end(), chunk_counts.begin(), chunk_counts.end());

  optimizer_->reduce_gradients();
  stats.seconds.gradient_reduction = seconds_since(start);
  start = Clock::now();
  stats.lr = lr;
  stats.grad_norm = optimizer_->update(lr);
  for (size_t c = 0; c < stages_.size(); ++c)
    if (!counts[c].empty()) stages_[c]->update_router_biases(counts[c]);
  stats.seconds.optimizer = seconds_since(start);
  // The worst expert load over the whole model: the max over the stages.
  stats.max_over_mean_load = max_over_mean_load(stats.expert_counts);
  if (pp.size() > 1) pp.all_reduce(&stats.max_over_mean_load, 1, ReduceOp::max);
  return stats;
}

ForwardResult TrainingStep::forward_only(const FillFn& fill) { return executor_->forward_only(fill); }

void TrainingStep::forget_caches() { executor_->forget_caches(); }

}  // namespace sadari
