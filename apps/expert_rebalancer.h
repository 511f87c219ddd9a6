// Online expert rebalancing in the training loop (parallel.rebalance_every > 0).
//
// After every optimizer step the trainer hands over the step's router load
// counts, already summed over dp (identical on every rank). This keeps, per MoE
// layer, an exponential moving average of them:
//   ema = counts                               at the first step,
//   ema = decay * ema + (1 - decay) * counts   after (decay = parallel.rebalance_decay).
// Every rebalance_every steps (not after the last one) it asks the configured
// policy (parallel.expert_policy, parallel/planner/expert_load_balancer.h) for a
// new placement of each layer: gpus = ep, slots_per_gpu = the slots per ep rank,
// expert_groups = model.n_groups, gpus_per_node = parallel.ranks_per_node or the
// launcher's ranks per node (hierarchical only). A layer takes the new placement
// when it lowers that layer's heaviest GPU load under the EMA; then the experts
// move (parallel/expert_migration.h: weights and AdamW state) and each changed
// layer gets its own dispatcher over its new placement.
// Every rank computes the same placements from the same sums with a
// deterministic policy; a checksum of them is compared over dp before anything
// moves, so a difference fails loudly instead of corrupting the run.
//
// Off (enabled() false) unless rebalance_every > 0 and ep > 1 (one ep rank holds
// every expert: there is nothing to move). Only for pp = 1 (check_trainable
// rejects it with pipeline parallelism).
// Ownership: borrows the model, the groups and the initial dispatcher (all must
// outlive this object's use); owns the dispatchers it creates, which the
// model's MoE layers then borrow (keep this object alive as long as the model
// runs). COLLECTIVE over dp: after_step when a rebalance is due.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "comm/process_groups.h"
#include "core/config.h"
#include "model/transformer_stage.h"
#include "parallel/distributed_optimizer.h"
#include "parallel/expert_parallel_dispatcher.h"
#include "parallel/expert_placement.h"

namespace sadari {

struct RebalanceEvent {
  int64_t step = 0;             // 1-based step after which it happened
  double load_before = 0;       // worst layer's max/mean GPU load under the EMA, old placements
  double load_after = 0;        // the same under the placements now in use
  int64_t moved_slots = 0;      // slots (all layers, one ep group) that received a new expert
  int64_t layers_changed = 0;
  std::string line() const;     // "step S: rebalanced experts: max/mean load X -> Y (...)"
  std::string json() const;     // the metrics.jsonl record
};

class ExpertRebalancer {
 public:
  // parallel: the resolved ParallelConfig the dispatchers are built with.
  // initial: the placement every MoE layer starts with; dispatcher: the
  // dispatcher the model was built with (over `initial`), or nullptr (then
  // rebalancing is off).
  ExpertRebalancer(const Config& cfg, const ParallelConfig& parallel, ProcessGroups& groups,
                   TransformerStage<float>& model, const std::optional<ExpertPlacement>& initial,
                   ExpertParallelDispatcher<float>* dispatcher);

  bool enabled() const { return enabled_; }

  // After step `step` (0-based) with its dp-summed counts (layout of
  // Transformer::expert_counts). Returns the event when experts moved; the
  // caller must then drop its caches' dispatch states (new Cache objects).
  // COLLECTIVE over dp when a rebalance is due.
  std::optional<RebalanceEvent> after_step(int64_t step,
                                           const std::vector<std::vector<int64_t>>& counts,
                                           DistributedOptimizer& optimizer);

  // The placement of block b (a MoE block), for tests and logs.
  const ExpertPlacement& placement(size_t block) const { return placements_[block].value(); }

  // What a checkpoint keeps (apps/training_checkpoint.h): per MoE block its
  // placement (ep x slots logical expert ids, rank-major) and its load EMA.
  // Identical on every rank.
  struct State {
    std::vector<size_t> blocks;                  // the MoE blocks, ascending
    std::vector<std::vector<int64_t>> slots;     // per entry of blocks: ep * slots_per_rank ids
    std::vector<std::vector<double>> ema;        // per entry of blocks: one load per expert
    bool have_ema = false;
  };
  State state() const;
  // After a resume: takes the EMA and moves every listed block to its saved
  // placement (weights and AdamW state, as a rebalance does). A saved placement
  // of another shape (the run resumed with another ep or expert_slots) is not
  // applied: the run keeps its initial placement for that block. COLLECTIVE over
  // dp (like after_step) when enabled.
  void restore(const State& saved, DistributedOptimizer& optimizer);

 private:
  // Moves the blocks whose placement differs from `next` (COLLECTIVE over dp);
  // returns the slots that received a new expert and the layers changed.
  std::pair<int64_t, int64_t> move_to(const std::vector<std::optional<ExpertPlacement>>& next,
                                      DistributedOptimizer& optimizer);

  const Config& cfg_;
  ParallelConfig parallel_;
  ProcessGroups* groups_;
  TransformerStage<float>* model_;
  bool enabled_ = false;
  std::vector<std::optional<ExpertPlacement>> placements_;  // per block; set for MoE blocks
  std::vector<std::vector<double>> ema_;                    // per block; empty for dense
  bool have_ema_ = false;
  std::vector<std::unique_ptr<ExpertParallelDispatcher<float>>> owned_;  // per block
};

}  // namespace sadari
