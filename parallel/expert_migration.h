// Expert migration: online rebalancing moves routed experts between the ranks
// of the ep group when MoE layers' placements change, so that afterwards every
// physical slot holds exactly the weights AND the AdamW state (m, v, step count)
// of its new logical expert. Placement changes where an expert runs, never the
// math: a run that migrates computes what the run without migration computes
// (up to the order of floating-point sums, tests/parity).
//
// What happens, per call (each MoE layer of this rank listed once in `moves`):
//   1. the full moments of this rank's expert parameters are collected
//      (DistributedOptimizer::expert_moments: under ZeRO-1 an all-gather of the
//      moment shards over each expert group; under ZeRO-0 they are already whole);
//   2. every new slot (rank b, slot j, logical expert e) gets its data from one
//      holder of e in the old placement: from b itself when b already held e (no
//      transfer), otherwise from replica R_e[b mod |R_e|] (R_e: e's old replicas
//      ordered by rank; every replica and every edp copy holds identical data, so
//      any one will do, and spreading over them spreads the traffic);
//   3. one all_to_all_v over the ep group carries, for every destination, its
//      slots' blocks in (layer, slot) order: gate_up and down values, then their
//      m, then their v (f32);
//   4. each layer moves to its new dispatcher (MoELayer::set_dispatcher renames
//      slot j's parameters to the new expert), the values are written into the
//      parameters, and the optimizer forms its expert groups anew from the new
//      placements with the moved moments (DistributedOptimizer::
//      rebuild_expert_groups: ZeRO-1 re-shards them over the new groups).
// Every ep group of the dp group does the same moves among its own ranks (edp
// copies are identical), so the result is consistent across the whole dp group.
// Replicas end identical: they are copies of one source.
//
// COLLECTIVE over the dp group: the optimizer's collectives over dp, edp and
// the replicated groups, and the all_to_all_v over the ep group. Every rank of
// the dp group must call it with the same placements (the trainer computes them
// from dp-summed statistics with a deterministic policy). When no layer's
// placement changes it returns at once without communicating (on every rank
// alike, since the placements are the same everywhere).
// REQUIRES: called between steps (no dispatch in flight; callers drop the
// dispatch states of their caches afterwards); `moves` lists every MoE layer
// whose experts are in the optimizer, each layer's current dispatcher holding
// `from` with this rank's slots; the new dispatchers outlive the layers.
// Errors (Error): placements that do not fit the ep group, the layer or each
// other (sizes, slot counts), naming the layer.
#pragma once

#include <cstdint>
#include <vector>

#include "comm/communicator.h"
#include "model/moe_layer.h"
#include "parallel/distributed_optimizer.h"
#include "parallel/expert_placement.h"

namespace sadari {

// One MoE layer's change of placement.
struct ExpertMove {
  MoELayer<float>* layer = nullptr;
  const ExpertPlacement* from = nullptr;  // the current placement (the layer's dispatcher's)
  const ExpertPlacement* to = nullptr;    // the new one; same experts, ranks and slots per rank
  // Dispatcher over `to` for this rank (becomes the layer's; borrowed, must
  // outlive the layer). nullptr keeps the current one, allowed when *from == *to.
  TokenDispatcher<float>* to_dispatcher = nullptr;
};

struct MigrationStats {
  // Slots over the whole ep group that receive an expert their rank did not
  // hold before (computed from the placements: the same on every rank).
  int64_t moved_slots = 0;
  int64_t sent_floats = 0;  // f32 values this rank sent over the ep group
};

// Moves experts, their optimizer state and the optimizer's expert groups to the
// new placements (see above). COLLECTIVE over the dp group.
MigrationStats migrate_experts(const std::vector<ExpertMove>& moves, Communicator& ep,
                               DistributedOptimizer& optimizer);

// Slots whose rank did not hold their expert under `from` (summed over ranks).
// REQUIRES the placements have the same ranks and experts.
int64_t slots_changing(const ExpertPlacement& from, const ExpertPlacement& to);

}  // namespace sadari
