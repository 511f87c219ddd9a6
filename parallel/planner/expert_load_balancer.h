// Expert placement policies: from per-expert loads to physical slots on GPUs.
//
// Input per MoE layer: the load of each logical expert (tokens routed to it, or a
// moving average of that), the GPUs of the expert-parallel group (ep ranks, in
// the rank order of comm/process_groups.h: consecutive ranks share a node, so
// node n holds GPUs [n*gpus_per_node, (n+1)*gpus_per_node)), the node size, slots
// per GPU (slots_per_gpu * gpus >= experts; extra slots hold replicas of hot
// experts) and the routing's expert groups (model.n_groups; group g holds experts
// [g*E/groups, (g+1)*E/groups)). A replica of expert e takes load(e) / replicas(e)
// (the dispatcher spreads an expert's tokens evenly over its replicas,
// parallel/expert_placement.h).
//
// Policies:
//   identity     - expert e on GPU e / (E / gpus); no replicas. REQUIRES
//                  slots_per_gpu * gpus == experts (it has no replicas to fill
//                  extra slots with).
//   greedy       - baseline: replica counts by replica_counts() below, then each
//                  replica, heaviest first, to the least loaded GPU with a free
//                  slot that does not hold that expert yet (LPT packing).
//   global       - greedy's packing, then pairwise swaps between the most loaded
//                  GPU and the others while a swap lowers the pair's maximum, and
//                  replica-count moves (a replica on the most loaded GPU becomes
//                  one of another expert when that lowers the maximum), bounded
//                  (parallel/planner/replica_packing.h). Its max load is never
//                  above greedy's.
//   hierarchical - (DeepSeek EPLB style) expert groups packed onto nodes, groups /
//                  nodes groups per node, balancing node load (LPT + swaps), so
//                  group-limited routing keeps a token's traffic on the nodes of its
//                  top-k groups; each node then gets gpus_per_node * slots_per_gpu
//                  slots for its experts, replica counts within the node, and the
//                  replicas are packed onto the node's GPUs like `global`.
//                  REQUIRES gpus_per_node divides gpus (or gpus <= gpus_per_node:
//                  one node), nodes divides expert_groups, and slots_per_gpu <=
//                  experts per node; else Error (use `global` instead).
// Every result: every logical expert has >= 1 replica, no GPU holds two replicas
// of one expert, every GPU exactly slots_per_gpu slots, slot lists sorted by
// expert id. Deterministic: the same request gives the same placement.
//
// Pure computation, no state; safe to call from any thread. Throws Error for
// impossible requests, naming the numbers and the request field.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "parallel/expert_placement.h"

namespace sadari {

enum class PlacementPolicy { identity, greedy, global, hierarchical };
// "identity" | "greedy" | "global" | "hierarchical"; throws Error otherwise
// (where = `where`, listing the names).
PlacementPolicy parse_placement_policy(const std::string& name, const std::string& where = "policy");
const char* placement_policy_name(PlacementPolicy p);

struct PlacementRequest {
  std::vector<double> loads;     // per logical expert, finite, >= 0
  int64_t gpus = 1;              // ep ranks
  int64_t gpus_per_node = 8;     // divides gpus (or gpus <= gpus_per_node: one node)
  int64_t slots_per_gpu = 1;     // experts <= slots_per_gpu * gpus; slots_per_gpu <= experts
  int64_t expert_groups = 1;     // model.n_groups; divides experts
};

struct PlacementResult {
  ExpertPlacement placement;      // logical -> physical slots (ep rank = GPU)
  std::vector<double> gpu_loads;  // per GPU: sum of its replicas' loads
  double max_load = 0, mean_load = 0;
  // A lower bound on max_load of ANY placement with these slots: the larger of
  // mean_load and the heaviest single replica under the best replica counts
  // (replica_counts() minimises that heaviest replica).
  double lower_bound = 0;
  double imbalance() const { return mean_load > 0 ? max_load / mean_load : 1.0; }
  double over_lower_bound() const { return lower_bound > 0 ? max_load / lower_bound : 1.0; }
};

// Checks the request (the REQUIREs above that hold for every policy) and throws
// Error naming the field: loads empty / negative / not finite, gpus < 1,
// slots_per_gpu out of range, expert_groups not dividing the experts ...
void validate_placement_request(const PlacementRequest& request);

PlacementResult place_experts(const PlacementRequest& request, PlacementPolicy policy);

// Replica counts for `slots` slots: every expert gets one, then each further slot
// goes to the expert with the highest per-replica load (ties: lower id) among
// those with fewer than `max_replicas`. This minimises the heaviest replica.
// REQUIRES loads.size() <= slots <= loads.size() * max_replicas.
std::vector<int64_t> replica_counts(const std::vector<double>& loads, int64_t slots,
                                    int64_t max_replicas);

// The lower bound of PlacementResult::lower_bound for `loads` over `gpus` GPUs of
// `slots_per_gpu` slots (max(mean, heaviest replica under replica_counts)).
double placement_lower_bound(const std::vector<double>& loads, int64_t gpus, int64_t slots_per_gpu);

// Load of each GPU under `placement` for `loads` (replicas share evenly).
// REQUIRES loads.size() == placement.experts().
std::vector<double> gpu_loads(const ExpertPlacement& placement, const std::vector<double>& loads);

// Scores an existing placement (e.g. the one a run uses now) against `loads`:
// gpu_loads, max, mean and the lower bound for its slots. For deciding whether
// re-placing is worth moving experts. Throws Error if the sizes disagree.
PlacementResult evaluate_placement(const ExpertPlacement& placement, const std::vector<double>& loads);

}  // namespace sadari
