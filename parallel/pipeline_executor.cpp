#include "parallel/pipeline_executor.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "core/error.h"

namespace sadari {

PipelineExecutor::PipelineExecutor(const PipelineSchedule& schedule, int rank,
                                   std::vector<TransformerStage<float>*> stages,
                                   Communicator& pp, int64_t micro_batch, int64_t seq,
                                   int64_t hidden)
    : schedule_(schedule),
      rank_(rank),
      stages_(std::move(stages)),
      pp_(pp),
      micro_(micro_batch),
      seq_(seq),
      hidden_(hidden) {
  SADARI_CHECK(pp.size() == schedule.ranks() && pp.rank() == rank, "pipeline executor for rank ",
               rank, " of a ", schedule.ranks(), "-rank schedule on a pp group of size ", pp.size(),
               " (rank ", pp.rank(), ")");
  SADARI_CHECK(static_cast<int>(stages_.size()) == schedule.chunks_per_rank(), "rank ", rank,
               " got ", stages_.size(), " model chunks, the schedule has ",
               schedule.chunks_per_rank());
  slots_.resize(stages_.size());
  for (auto& chunk : slots_) chunk.resize(static_cast<size_t>(schedule.microbatches()));
  free_caches_.resize(stages_.size());
}

std::unique_ptr<PipelineExecutor::PooledCache> PipelineExecutor::acquire_cache(int chunk) {
  auto& pool = free_caches_[static_cast<size_t>(chunk)];
  if (pool.empty()) return std::make_unique<PooledCache>();
  std::unique_ptr<PooledCache> cache = std::move(pool.back());
  pool.pop_back();
  // Its last micro-batch's sends may still read it.
  for (auto& request : cache->sends) pp_.wait(*request);
  cache->sends.clear();
  return cache;
}

void PipelineExecutor::release_cache(int chunk, std::unique_ptr<PooledCache> cache) {
  SADARI_ASSERT(cache != nullptr);
  free_caches_[static_cast<size_t>(chunk)].push_back(std::move(cache));
}

void PipelineExecutor::forget_caches() {
  for (auto& pool : free_caches_) {
    for (auto& cache : pool)
      for (auto& request : cache->sends) pp_.wait(*request);
    pool.clear();
  }
}

PipelineExecutor::Slot& PipelineExecutor::slot(int chunk, int microbatch) {
  SADARI_ASSERT(chunk >= 0 && chunk < static_cast<int>(slots_.size()));
  SADARI_ASSERT(microbatch >= 0 && microbatch < schedule_.microbatches());
  return slots_[static_cast<size_t>(chunk)][static_cast<size_t>(microbatch)];
}

void PipelineExecutor::forward(const Action& a, const FillFn& fill, PipelineStepStats& stats) {
  const StageLocation here{rank_, a.chunk};
  const bool first = schedule_.is_first_stage(a.microbatch, here);
  const bool last = schedule_.is_last_stage(a.microbatch, here);
  Slot& s = slot(a.chunk, a.microbatch);
  const size_t n = static_cast<size_t>(micro_ * seq_);
  if (first || last) {
    s.ids.resize(n);
    s.targets.resize(n);
    fill(a.microbatch, s.ids.data(), s.targets.data());
  }
  if (!first) SADARI_ASSERT(s.activation_in.size() == n * static_cast<size_t>(hidden_));
  const TransformerStage<float>& stage = *stages_[static_cast<size_t>(a.chunk)];
  SADARI_ASSERT(s.live == nullptr);
  s.live = acquire_cache(a.chunk);
  auto& cache = s.live->cache;
  const ForwardResult r =
      stage.forward(first ? s.ids.data() : nullptr, first ? nullptr : s.activation_in.data(),
                    last ? s.targets.data() : nullptr, micro_, seq_, cache);
  stats.ce_sum += r.ce_sum;
  stats.tokens += static_cast<double>(r.tokens);
  stats.aux_loss += r.aux_loss;
  stats.dropped_pairs += static_cast<double>(stage.dropped_pairs(cache));
  add_expert_counts(stats.expert_counts[static_cast<size_t>(a.chunk)],
                    stage.expert_counts(cache));

  // The next stage on this rank (DualPipeV's turn): hand the output over here.
  const auto next = schedule_.next_location(a.microbatch, here);
  if (next && next->rank == rank_) {
    const float* out = stage.output(cache);
    slot(next->chunk, a.microbatch).activation_in.assign(out, out + n * static_cast<size_t>(hidden_));
  }
  peak_live_ = std::max(peak_live_, ++live_);
}

void PipelineExecutor::backward(const Action& a, float ce_scale, float aux_scale) {
  const StageLocation here{rank_, a.chunk};
  Slot& s = slot(a.chunk, a.microbatch);
  const size_t nd = static_cast<size_t>(micro_ * seq_ * hidden_);
  const bool last = schedule_.is_last_stage(a.microbatch, here);
  if (!last) SADARI_ASSERT(s.gradient_in.size() == nd);
  const TransformerStage<float>& stage = *stages_[static_cast<size_t>(a.chunk)];
  SADARI_ASSERT(s.live != nullptr);
  const float* d_output = last ? nullptr : s.gradient_in.data();
  if (a.kind == ActionKind::backward_input)
    stage.backward_input(d_output, s.live->cache, ce_scale, aux_scale);
  else
    stage.backward(d_output, s.live->cache, ce_scale, aux_scale);
  const auto previous = schedule_.previous_location(a.microbatch, here);
  if (previous && previous->rank == rank_) {
    const float* d = stage.input_grad(s.live->cache);
    slot(previous->chunk, a.microbatch).gradient_in.assign(d, d + nd);
  }
  // A full backward completes the micro-batch here; a split one at its
  // backward_weight. The send of the input gradient, placed after this action,
  // still reads the cache: acquire_cache waits for it before reuse.
  if (a.kind == ActionKind::backward) complete(a);
}

void PipelineExecutor::complete(const Action& a) {
  Slot& s = slot(a.chunk, a.microbatch);
  SADARI_ASSERT(s.live != nullptr);
  const auto previous = schedule_.previous_location(a.microbatch, StageLocation{rank_, a.chunk});
  const bool gradient_to_send = previous && previous->rank != rank_;
  if (gradient_to_send && a.kind == ActionKind::backward)
    s.awaiting_send = std::move(s.live);  // released by the send_gradient that follows
  else
    release_cache(a.chunk, std::move(s.live));
  --live_;
}

void PipelineExecutor::post_receives() {
  const std::vector<Action>& actions = schedule_.actions(rank_);
  const int64_t count = micro_ * seq_ * hidden_;
  posted_recvs_.clear();
  posted_recvs_.resize(actions.size());
  for (size_t i = 0; i < actions.size(); ++i) {
    const Action& a = actions[i];
    if (!is_recv(a.kind)) continue;
    Slot& s = slot(a.chunk, a.microbatch);
    std::vector<float>& buf =
        a.kind == ActionKind::recv_activation ? s.activation_in : s.gradient_in;
    buf.resize(static_cast<size_t>(count));
    posted_recvs_[i] =
        pp_.irecv(buf.data(), count, DType::f32, a.peer, schedule_.message_tag(rank_, a));
  }
}

void PipelineExecutor::transfer(const Action& a, size_t index) {
  Slot& s = slot(a.chunk, a.microbatch);
  const int64_t count = micro_ * seq_ * hidden_;
  const int tag = schedule_.message_tag(rank_, a);
  const TransformerStage<float>& stage = *stages_[static_cast<size_t>(a.chunk)];
  // A send reads the micro-batch's cache: live (activation; input gradient of a
  // split backward) or awaiting this send (input gradient of a full backward).
  PooledCache* sender = s.live ? s.live.get() : s.awaiting_send.get();
  if (is_send(a.kind)) SADARI_ASSERT(sender != nullptr);
  switch (a.kind) {
    case ActionKind::recv_activation:
    case ActionKind::recv_gradient:
      SADARI_ASSERT(posted_recvs_[index] != nullptr);
      pp_.wait(*posted_recvs_[index]);
      posted_recvs_[index].reset();
      break;
    case ActionKind::send_activation:
      sender->sends.push_back(
          pp_.isend(stage.output(sender->cache), count, DType::f32, a.peer, tag));
      break;
    case ActionKind::send_gradient:
      SADARI_ASSERT(stage.input_grad(sender->cache) != nullptr);
      sender->sends.push_back(
          pp_.isend(stage.input_grad(sender->cache), count, DType::f32, a.peer, tag));
      // Back to the pool; its next acquire waits for this send.
      if (s.awaiting_send) release_cache(a.chunk, std::move(s.awaiting_send));
      break;
    default:
      SADARI_ASSERT(false);
  }
}

PipelineStepStats PipelineExecutor::run_step(const FillFn& fill, float ce_scale,
                                             float aux_scale) {
  PipelineStepStats stats;
  stats.expert_counts.resize(stages_.size());
  live_ = 0;
  peak_live_ = 0;
  using Clock = std::chrono::steady_clock;
  const auto step_start = Clock::now();
  post_receives();
  const std::vector<Action>& actions = schedule_.actions(rank_);
  for (size_t i = 0; i < actions.size(); ++i) {
    const Action& a = actions[i];
    const auto action_start = Clock::now();
    switch (a.kind) {
      case ActionKind::forward:
        forward(a, fill, stats);
        break;
      case ActionKind::backward:
      case ActionKind::backward_input:
        backward(a, ce_scale, aux_scale);
        break;
      case ActionKind::backward_weight: {
        Slot& s = slot(a.chunk, a.microbatch);
        SADARI_ASSERT(s.live != nullptr);
        stages_[static_cast<size_t>(a.chunk)]->backward_weight(s.live->cache);
        complete(a);
        break;
      }
      default:
        transfer(a, i);
    }
    if (is_compute(a.kind))
      stats.compute_seconds += std::chrono::duration<double>(Clock::now() - action_start).count();
  }
  SADARI_ASSERT(live_ == 0);
  for (const auto& chunk : slots_)
    for (const auto& s : chunk) SADARI_ASSERT(s.live == nullptr && s.awaiting_send == nullptr);
  for (auto& pool : free_caches_)
    for (auto& cache : pool) {
      for (auto& request : cache->sends) pp_.wait(*request);
      cache->sends.clear();
    }
  stats.step_seconds = std::chrono::duration<double>(Clock::now() - step_start).count();
  return stats;
}

ForwardResult PipelineExecutor::forward_only(const FillFn& fill) {
  ForwardResult out;
  const int stages = schedule_.num_stages();
  const size_t n = static_cast<size_t>(micro_ * seq_);
  const size_t nd = n * static_cast<size_t>(hidden_);
  // Micro-batch 0's path (for DualPipe: the first direction), slots of micro-batch 0.
  for (int stage_index = 0; stage_index < stages; ++stage_index) {
    const StageLocation here = schedule_.location_of(0, stage_index);
    if (here.rank != rank_) continue;
    Slot& s = slot(here.chunk, 0);
    const bool first = stage_index == 0, last = stage_index + 1 == stages;
    if (first || last) {
      s.ids.resize(n);
      s.targets.resize(n);
      fill(0, s.ids.data(), s.targets.data());
    }
    if (!first) {
      const StageLocation from = schedule_.location_of(0, stage_index - 1);
      if (from.rank != rank_) {
        s.activation_in.resize(nd);
        pp_.recv(s.activation_in.data(), static_cast<int64_t>(nd), DType::f32, from.rank,
                 2 * stage_index);
      }
    }
    const TransformerStage<float>& stage = *stages_[static_cast<size_t>(here.chunk)];
    std::unique_ptr<PooledCache> pooled = acquire_cache(here.chunk);
    auto& cache = pooled->cache;
    const ForwardResult r =
        stage.forward(first ? s.ids.data() : nullptr, first ? nullptr : s.activation_in.data(),
                      last ? s.targets.data() : nullptr, micro_, seq_, cache);
    out.ce_sum += r.ce_sum;
    out.tokens += r.tokens;
    if (!last) {
      const StageLocation to = schedule_.location_of(0, stage_index + 1);
      if (to.rank == rank_)
        slot(to.chunk, 0).activation_in.assign(stage.output(cache), stage.output(cache) + nd);
      else
        pp_.send(stage.output(cache), static_cast<int64_t>(nd), DType::f32, to.rank,
                 2 * (stage_index + 1));
    }
    release_cache(here.chunk, std::move(pooled));
  }
  return out;
}

}  // namespace sadari
