// DistributedOptimizer: the data-parallel end of a training step. After every
// rank has accumulated the gradients of its slice of the global batch, step()
//   1. sums the gradients over the ranks holding copies of them, in buckets
//      (parallel/gradient_sync.h), one reduction group per kind of parameter:
//        dense parameters            over dp;
//        routed experts              over edp (the copies of this ep rank's
//                                    experts in the other ep groups);
//        replicated experts          (a placement holding a logical expert on
//                                    several ep ranks, H = their ep indices) over
//                                    every dp rank whose ep index is in H: the
//                                    replicas' gradients and the edp copies, all
//                                    summed, so every replica gets the gradient
//                                    of the logical expert and stays identical;
//   2. computes the global gradient norm ONCE over all ranks: each rank adds the
//      squares of the reduced-gradient shards it owns in each of its groups,
//      then one all_reduce of that scalar over dp, and (pp > 1) one over pp,
//      whose stages hold disjoint parameters. The shards of a group
//      partition its parameters, and every dp rank is in exactly the groups of
//      the parameters it holds, so every element of the model is counted once,
//      never once per replica;
//   3. clips (scales the gradients by max_norm / norm when norm > max_norm);
//   4. updates: zero_stage 0 -> replicated AdamW on every rank (the reduction
//      was an all-reduce); zero_stage 1 -> ShardedAdamW per group (the reduction
//      was a reduce-scatter; updated shards are all-gathered).
// Both stages give the one-process weights up to the order of floating-point sums.
//
// Parameters with trainable == false (the router bias) are left alone: the
// trainer moves them from dp-summed load counts, identically everywhere.
// With one rank every group has size one and this is exactly one-process AdamW
// with global-norm clipping.
//
// Order: groups are reduced in one global order (dense, experts, then replicated
// holder sets sorted), each rank skipping the groups it is not in, so blocking
// collectives on overlapping groups cannot deadlock. Inside a replicated group
// parameters are laid out by name, because replicas sit in different slots (and
// so in different store order) on different ranks.
//
// REQUIRES: with pp > 1 the store holds this rank's pipeline stages; a
// parameter held by several pp ranks (DualPipe) needs set_pipeline_copies.
// REQUIRES: the store's routed-expert parameters (expert_id >= 0) are those of
// this rank's slots in `placement` (what ExpertParallelDispatcher makes the MoE
// layers create); without a placement, no expert is replicated.
// Ownership: borrows the store and the groups (must outlive it). The store's
// trainable parameters are re-pointed into flat bucket buffers on construction.
// Per-layer placements: the PlacementOf constructor takes, for every routed-expert
// parameter, the placement of its layer (each MoE layer may have its own). The
// replicated holder sets are the union over every placement reached that way;
// every dp rank holds at least one slot of every MoE layer, so all dp ranks see
// the same placements and split the same groups.
// Online rebalancing (parallel/expert_migration.h) moves expert parameters and
// their moments between ranks, then calls rebuild_expert_groups.
// COLLECTIVE over dp: the constructor (it splits the replicated groups, when
// there are any); step() and the norm over dp and pp; expert_moments() and
// rebuild_expert_groups().
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "comm/process_groups.h"
#include "core/config.h"
#include "core/parameter.h"
#include "kernels/exec_context.h"
#include "optim/adamw.h"
#include "optim/param_buckets.h"
#include "optim/zero1_adamw.h"
#include "parallel/expert_placement.h"
#include "parallel/gradient_sync.h"

namespace sadari {

class DistributedOptimizer {
 public:
  // zero_stage and bucket_mb from `parallel`; AdamW settings and grad_clip from
  // `optim`. placement: the ep group's expert placement (nullptr: identity-like,
  // no replicas). ctx: where gradients, shards and moments live and the
  // optimizer's kernels run (kernels/ops.h).
  DistributedOptimizer(const OptimConfig& optim, const ParallelConfig& parallel,
                       ParameterStore& params, ProcessGroups& groups,
                       const ExpertPlacement* placement = nullptr,
                       const ExecContext& ctx = ExecContext::cpu());
  // The placement governing a routed-expert parameter (its layer's); must stay
  // valid while the call that takes it runs. nullptr: no replicas for it.
  using PlacementOf = std::function<const ExpertPlacement*(const Parameter&)>;
  DistributedOptimizer(const OptimConfig& optim, const ParallelConfig& parallel,
                       ParameterStore& params, ProcessGroups& groups,
                       const PlacementOf& placement_of,
                       const ExecContext& ctx = ExecContext::cpu());

  // COLLECTIVE. Reduces, clips to optim.grad_clip (0: no clipping), updates with
  // learning rate lr. Returns the global gradient norm before clipping.
  double step(double lr);

  // Pipeline schedules that hold every stage on `copies` pp ranks (DualPipe: 2)
  // sum the copies' gradients before step() (parallel/stage_copies.h); the norm
  // then divides the squares summed over pp by `copies`, counting each
  // parameter once. Default 1.
  void set_pipeline_copies(int copies) { pipeline_copies_ = copies; }

  // step() is reduce_gradients() then update(lr); separately for benchmarks and
  // for overlapping the reduction with backward later. COLLECTIVE, each.
  void reduce_gradients();
  double update(double lr);         // steps 2-4 on reduced gradients; returns the norm
  double global_grad_norm() const;  // step 2 alone (after reduce_gradients)

  // Full AdamW moments of one parameter (numel floats each).
  struct Moments {
    std::vector<float> m, v;
  };
  using MomentsOf = std::unordered_map<const Parameter*, Moments>;
  // The full moments of every routed-expert parameter this rank holds.
  // ZeRO-1 all-gathers the expert groups' moment shards (COLLECTIVE over dp:
  // every expert group in the global order); ZeRO-0 copies (no communication,
  // but call it on every rank alike).
  MomentsOf expert_moments();
  // After the routed-expert parameters were moved (values, names and expert ids
  // rewritten for the new placements): drops the expert groups and forms them
  // anew from placement_of (buckets, replicated groups, ZeRO-1 shards), taking
  // each routed-expert parameter's moments from `moments` (REQUIRES an entry for
  // every one) and keeping the step count. The dense group and its state are
  // untouched. COLLECTIVE over dp (the replicated groups are split again).
  void rebuild_expert_groups(const PlacementOf& placement_of, const MomentsOf& moments);
  int64_t steps_taken() const { return steps_; }

  // Checkpoints (apps/training_checkpoint.h). Under ZeRO-0, p's AdamW moments
  // (p->numel() floats each; writable, to load them); {nullptr, nullptr} under
  // ZeRO-1 (whose state is in groups()' ShardedAdamW shards) or when p is not
  // trained by this optimizer.
  std::pair<float*, float*> replicated_moments(const Parameter* p);
  // After loading state: the number of updates already done (the next step()
  // is update steps + 1, with its bias corrections). Not collective.
  void restore_steps(int64_t steps);

  // One reduction group: parameters whose copies live on the same ranks.
  struct ParamGroup {
    std::string what;  // "dense", "experts", "experts replicated on ep ranks {0,1}"
    Communicator* comm = nullptr;
    std::unique_ptr<ParamBuckets> buckets;
    std::unique_ptr<GradientSync> sync;
    std::unique_ptr<ShardedAdamW> sharded;  // zero_stage 1
  };
  // This rank's groups, in the global order (dense first, then experts).
  const std::vector<ParamGroup>& groups() const { return groups_; }
  int64_t reduced_elements() const;  // sum of the groups' flat sizes (with padding)

 private:
  void add_group(std::string what, Communicator& comm, std::vector<Parameter*> params,
                 int64_t bucket_elements);
  // The experts group and the replicated groups (after the dense group).
  void add_expert_groups(const PlacementOf& placement_of);

  OptimConfig cfg_;
  ExecContext ctx_;
  int zero_stage_;
  ParameterStore* params_;
  int64_t bucket_elements_ = 1;
  int64_t steps_ = 0;  // updates done (the step count a rebuilt ShardedAdamW resumes from)
  int pipeline_copies_ = 1;
  ProcessGroups* process_groups_;
  std::vector<std::unique_ptr<Communicator>> replica_comms_;  // split from dp, kept alive
  std::vector<ParamGroup> groups_;
  std::unique_ptr<AdamW> replicated_;  // zero_stage 0
};

}  // namespace sadari
