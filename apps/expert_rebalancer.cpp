#include "apps/expert_rebalancer.h"

#include <algorithm>
#include <cstdio>

#include "comm/launch_env.h"
#include "core/error.h"
#include "parallel/expert_migration.h"
#include "parallel/expert_setup.h"
#include "parallel/planner/expert_load_balancer.h"

namespace sadari {

namespace {

// FNV-1a over the slots of every placement: equal on every rank iff they agree
// (up to a collision nobody will meet by accident).
uint64_t checksum(const std::vector<std::optional<ExpertPlacement>>& placements) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](uint64_t x) {
    h ^= x;
    h *= 1099511628211ull;
  };
  for (const auto& p : placements) {
    if (!p) continue;
    for (int r = 0; r < p->ranks(); ++r)
      for (int64_t e : p->rank_slots(r)) mix(static_cast<uint64_t>(e) + 1);
    mix(0);
  }
  return h;
}

}  // namespace

std::string RebalanceEvent::line() const {
  char buf[200];
  std::snprintf(buf, sizeof buf,
                "step %lld: rebalanced experts: max/mean load %.3f -> %.3f (%lld layers, %lld "
                "slots received a new expert)",
                static_cast<long long>(step), load_before, load_after,
                static_cast<long long>(layers_changed), static_cast<long long>(moved_slots));
  return buf;
}

std::string RebalanceEvent::json() const {
  char buf[200];
  std::snprintf(buf, sizeof buf,
                "{\"step\":%lld,\"rebalance\":1,\"expert_gpu_load_before\":%.9g,"
                "\"expert_gpu_load_after\":%.9g,\"layers_changed\":%lld,\"moved_slots\":%lld}",
                static_cast<long long>(step), load_before, load_after,
                static_cast<long long>(layers_changed), static_cast<long long>(moved_slots));
  return buf;
}

ExpertRebalancer::ExpertRebalancer(const Config& cfg, const ParallelConfig& parallel,
                                   ProcessGroups& groups, TransformerStage<float>& model,
                                   const std::optional<ExpertPlacement>& initial,
                                   ExpertParallelDispatcher<float>* dispatcher)
    : cfg_(cfg), parallel_(parallel), groups_(&groups), model_(&model) {
  enabled_ = parallel.rebalance_every > 0 && groups.layout.ep > 1 && dispatcher && initial;
  const auto& blocks = model.blocks();
  placements_.resize(blocks.size());
  ema_.resize(blocks.size());
  owned_.resize(blocks.size());
  if (!enabled_) return;
  for (size_t b = 0; b < blocks.size(); ++b)
    if (blocks[b].is_moe()) placements_[b] = *initial;
}

std::optional<RebalanceEvent> ExpertRebalancer::after_step(
    int64_t step, const std::vector<std::vector<int64_t>>& counts,
    DistributedOptimizer& optimizer) {
  if (!enabled_) return std::nullopt;
  const auto& blocks = model_->blocks();
  SADARI_ASSERT(counts.size() == blocks.size());
  const double decay = parallel_.rebalance_decay;
  for (size_t b = 0; b < blocks.size(); ++b) {
    if (!placements_[b] || counts[b].empty()) continue;
    std::vector<double>& ema = ema_[b];
    if (!have_ema_) ema.assign(counts[b].begin(), counts[b].end());
    else
      for (size_t e = 0; e < ema.size(); ++e)
        ema[e] = decay * ema[e] + (1.0 - decay) * static_cast<double>(counts[b][e]);
  }
  have_ema_ = true;
  const int64_t done = step + 1;
  if (done % parallel_.rebalance_every != 0 || done >= cfg_.train.steps) return std::nullopt;

  // New placements, layer by layer, from the EMA.
  const PlacementPolicy policy =
      parse_placement_policy(parallel_.expert_policy, cfg_.where("parallel.expert_policy"));
  PlacementRequest request;
  request.gpus = groups_->layout.ep;
  request.gpus_per_node = request.gpus;
  if (policy == PlacementPolicy::hierarchical)
    request.gpus_per_node =
        ranks_per_node_for_routing(detect_launch_environment(), parallel_.ranks_per_node);
  request.expert_groups = cfg_.model.n_groups;
  RebalanceEvent event;
  event.step = done;
  std::vector<std::optional<ExpertPlacement>> next = placements_;
  for (size_t b = 0; b < blocks.size(); ++b) {
    if (!placements_[b]) continue;
    request.loads = ema_[b];
    request.slots_per_gpu = placements_[b]->slots_per_rank();
    const PlacementResult now = evaluate_placement(*placements_[b], request.loads);
    PlacementResult best = place_experts(request, policy);
    const bool better = best.max_load < now.max_load;
    if (better) next[b] = best.placement;
    event.load_before = std::max(event.load_before, now.imbalance());
    event.load_after = std::max(event.load_after, better ? best.imbalance() : now.imbalance());
  }

  // Every dp rank must have computed the same placements.
  const uint64_t sum = checksum(next);
  int64_t extremes[2] = {static_cast<int64_t>(sum >> 1), -static_cast<int64_t>(sum >> 1)};
  groups_->dp->all_reduce(extremes, 2, ReduceOp::max);  // max, and -min
  if (extremes[0] != -extremes[1])
    fail("the ranks computed different expert placements from the same load statistics",
         detail::cat("expert rebalancing after step ", done),
         "this is a bug (the placement policy must be deterministic); set "
         "parallel.rebalance_every=0 to train without rebalancing");

  const auto [moved_slots, layers_changed] = move_to(next, optimizer);
  if (layers_changed == 0) return std::nullopt;
  event.moved_slots = moved_slots;
  event.layers_changed = layers_changed;
  return event;
}

std::pair<int64_t, int64_t> ExpertRebalancer::move_to(
    const std::vector<std::optional<ExpertPlacement>>& next, DistributedOptimizer& optimizer) {
  // A new dispatcher for each changed layer.
  const auto& blocks = model_->blocks();
  std::vector<ExpertMove> moves;
  std::vector<std::unique_ptr<ExpertParallelDispatcher<float>>> fresh(blocks.size());
  int64_t layers_changed = 0;
  for (size_t b = 0; b < blocks.size(); ++b) {
    if (!placements_[b]) continue;
    ExpertMove mv;
    mv.layer = blocks[b].moe();
    mv.from = &*placements_[b];
    mv.to = &*next[b];
    if (!(*next[b] == *placements_[b])) {
      fresh[b] = std::make_unique<ExpertParallelDispatcher<float>>(
          *groups_->ep, *next[b], parallel_,
          DispatchWire::for_precision(precision_of(cfg_)));
      mv.to_dispatcher = fresh[b].get();
      ++layers_changed;
    }
    moves.push_back(mv);
  }
  if (layers_changed == 0) return {0, 0};
  const MigrationStats stats = migrate_experts(moves, *groups_->ep, optimizer);
  for (size_t b = 0; b < blocks.size(); ++b)
    if (fresh[b]) {
      placements_[b] = next[b];
      owned_[b] = std::move(fresh[b]);  // the layer now borrows it; the old one is done
    }
  return {stats.moved_slots, layers_changed};
}

ExpertRebalancer::State ExpertRebalancer::state() const {
  State s;
  s.have_ema = have_ema_;
  for (size_t b = 0; b < placements_.size(); ++b) {
    if (!placements_[b]) continue;
    s.blocks.push_back(b);
    std::vector<int64_t> ids;
    for (int r = 0; r < placements_[b]->ranks(); ++r)
      ids.insert(ids.end(), placements_[b]->rank_slots(r).begin(),
                 placements_[b]->rank_slots(r).end());
    s.slots.push_back(std::move(ids));
    s.ema.push_back(ema_[b]);
  }
  return s;
}

void ExpertRebalancer::restore(const State& saved, DistributedOptimizer& optimizer) {
  if (!enabled_) return;
  std::vector<std::optional<ExpertPlacement>> next = placements_;
  for (size_t i = 0; i < saved.blocks.size(); ++i) {
    const size_t b = saved.blocks[i];
    if (b >= placements_.size() || !placements_[b]) continue;
    if (static_cast<int64_t>(saved.ema[i].size()) == cfg_.model.experts) ema_[b] = saved.ema[i];
    const int ep = placements_[b]->ranks();
    const int64_t per_rank = placements_[b]->slots_per_rank();
    if (static_cast<int64_t>(saved.slots[i].size()) != ep * per_rank) continue;
    std::vector<std::vector<int64_t>> rank_slots(static_cast<size_t>(ep));
    for (int r = 0; r < ep; ++r)
      rank_slots[r].assign(saved.slots[i].begin() + r * per_rank,
                           saved.slots[i].begin() + (r + 1) * per_rank);
    next[b] = ExpertPlacement::from_slots(cfg_.model.experts, std::move(rank_slots));
  }
  have_ema_ = saved.have_ema;
  move_to(next, optimizer);
}

}  // namespace sadari
