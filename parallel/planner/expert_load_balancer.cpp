#include "parallel/planner/expert_load_balancer.h"

#include <algorithm>
#include <cmath>
#include <queue>
#include <utility>

#include "core/error.h"
#include "parallel/planner/replica_packing.h"

namespace sadari {

using detail::cat;
using planner_detail::lpt_pack;
using planner_detail::Packing;
using planner_detail::refine_by_swaps;

namespace {

const char* kWhere = "expert placement request";
constexpr int64_t kMaxGpus = 1 << 20;

// Swap rounds per packing: each swap fixes the most loaded bin a little; a few
// per slot is far more than converging ever took in the benchmark, and bounds the
// time on adversarial loads.
int64_t swap_budget(int64_t bins, int64_t capacity) { return 8 * bins * capacity + 64; }

ExpertPlacement build(int64_t experts, std::vector<std::vector<int64_t>> slots) {
  for (auto& s : slots) std::sort(s.begin(), s.end());
  return ExpertPlacement::from_slots(experts, std::move(slots));
}

std::vector<double> per_replica(const std::vector<double>& loads, const std::vector<int64_t>& counts) {
  std::vector<double> w(loads.size());
  for (size_t e = 0; e < loads.size(); ++e) w[e] = loads[e] / static_cast<double>(counts[e]);
  return w;
}

// Replica counts and a packing of the replicas of `loads` onto `gpus` GPUs;
// refined by swaps and replica-count moves unless `refine` is false (greedy).
Packing pack_experts(const std::vector<double>& loads, int64_t gpus, int64_t slots_per_gpu, bool refine) {
  std::vector<int64_t> counts = replica_counts(loads, gpus * slots_per_gpu, gpus);
  Packing p = lpt_pack(per_replica(loads, counts), counts, gpus, slots_per_gpu);
  if (refine) planner_detail::refine_replicas(p, loads, counts, swap_budget(gpus, slots_per_gpu));
  return p;
}

ExpertPlacement identity_placement(const PlacementRequest& r) {
  const int64_t experts = static_cast<int64_t>(r.loads.size());
  if (r.gpus * r.slots_per_gpu != experts)
    fail(cat("the identity policy has no replicas, so it needs slots_per_gpu x gpus == experts; got ",
             r.slots_per_gpu, " x ", r.gpus, " = ", r.slots_per_gpu * r.gpus, " slots for ", experts,
             " experts"),
         kWhere, "use greedy, global or hierarchical to fill extra slots with replicas");
  return ExpertPlacement::identity(experts, static_cast<int>(r.gpus));
}

ExpertPlacement flat_placement(const PlacementRequest& r, bool refine) {
  const Packing p = pack_experts(r.loads, r.gpus, r.slots_per_gpu, refine);
  return build(static_cast<int64_t>(r.loads.size()), p.items);
}

ExpertPlacement hierarchical_placement(const PlacementRequest& r) {
  const int64_t experts = static_cast<int64_t>(r.loads.size());
  const int64_t nodes = r.gpus <= r.gpus_per_node ? 1 : r.gpus / r.gpus_per_node;
  if (r.gpus > r.gpus_per_node && r.gpus % r.gpus_per_node != 0)
    fail(cat("the hierarchical policy needs whole nodes: gpus_per_node ", r.gpus_per_node,
             " does not divide gpus ", r.gpus),
         kWhere, "give the node size that divides the GPU count, or use the global policy");
  const int64_t node_gpus = r.gpus / nodes;
  const int64_t groups = r.expert_groups;
  if (groups % nodes != 0)
    fail(cat("the hierarchical policy keeps each expert group on one node and gives every node the same "
             "number of groups: ", groups, " groups cannot be split over ", nodes, " nodes"),
         kWhere,
         cat("use a multiple of ", nodes, " expert groups (model.n_groups), or the global policy"));
  const int64_t per_group = experts / groups;
  const int64_t groups_per_node = groups / nodes;
  const int64_t node_experts = groups_per_node * per_group;
  if (r.slots_per_gpu > node_experts)
    fail(cat("the hierarchical policy places only a node's ", node_experts,
             " experts on its GPUs, fewer than slots_per_gpu ", r.slots_per_gpu,
             " (a GPU cannot hold two replicas of one expert)"),
         kWhere, "use fewer slots per GPU, fewer nodes, or the global policy");

  // Groups onto nodes, balancing node load.
  std::vector<double> group_load(static_cast<size_t>(groups), 0.0);
  for (int64_t e = 0; e < experts; ++e) group_load[e / per_group] += r.loads[e];
  Packing on_nodes = lpt_pack(group_load, std::vector<int64_t>(static_cast<size_t>(groups), 1), nodes,
                              groups_per_node);
  refine_by_swaps(on_nodes, group_load, swap_budget(nodes, groups_per_node));

  // Within each node: its experts, its slots, its GPUs.
  std::vector<std::vector<int64_t>> slots(static_cast<size_t>(r.gpus));
  for (int64_t n = 0; n < nodes; ++n) {
    std::vector<int64_t> node_groups = on_nodes.items[n];
    std::sort(node_groups.begin(), node_groups.end());
    std::vector<int64_t> ids;  // local index -> logical expert
    std::vector<double> local;
    for (int64_t g : node_groups)
      for (int64_t e = g * per_group; e < (g + 1) * per_group; ++e) {
        ids.push_back(e);
        local.push_back(r.loads[e]);
      }
    const Packing p = pack_experts(local, node_gpus, r.slots_per_gpu, /*refine=*/true);
    for (int64_t j = 0; j < node_gpus; ++j)
      for (int64_t i : p.items[j]) slots[n * node_gpus + j].push_back(ids[i]);
  }
  return build(experts, std::move(slots));
}

}  // namespace

PlacementPolicy parse_placement_policy(const std::string& name, const std::string& where) {
  if (name == "identity") return PlacementPolicy::identity;
  if (name == "greedy") return PlacementPolicy::greedy;
  if (name == "global") return PlacementPolicy::global;
  if (name == "hierarchical") return PlacementPolicy::hierarchical;
  fail(cat("unknown expert placement policy '", name, "'"), where,
       "use identity, greedy, global or hierarchical");
}

const char* placement_policy_name(PlacementPolicy p) {
  switch (p) {
    case PlacementPolicy::identity: return "identity";
    case PlacementPolicy::greedy: return "greedy";
    case PlacementPolicy::global: return "global";
    case PlacementPolicy::hierarchical: return "hierarchical";
  }
  return "?";
}

void validate_placement_request(const PlacementRequest& r) {
  const int64_t experts = static_cast<int64_t>(r.loads.size());
  if (experts == 0) fail("no expert loads given", kWhere, "give one load per logical expert");
  for (int64_t e = 0; e < experts; ++e)
    if (!std::isfinite(r.loads[e]) || r.loads[e] < 0)
      fail(cat("the load of expert ", e, " is ", r.loads[e], "; loads must be finite and >= 0"), kWhere);
  if (r.gpus < 1 || r.gpus > kMaxGpus)
    fail(cat("gpus must be in [1, ", kMaxGpus, "], got ", r.gpus), kWhere);
  if (r.gpus_per_node < 1) fail(cat("gpus_per_node must be >= 1, got ", r.gpus_per_node), kWhere);
  if (r.expert_groups < 1 || experts % r.expert_groups != 0)
    fail(cat("expert_groups ", r.expert_groups, " must be >= 1 and divide the ", experts, " experts"),
         kWhere, "give model.n_groups of the model whose loads these are");
  if (r.slots_per_gpu < 1 || r.slots_per_gpu > experts)
    fail(cat("slots_per_gpu must be in [1, ", experts, "] (a GPU cannot hold two replicas of one "
             "expert), got ", r.slots_per_gpu),
         kWhere);
  if (r.slots_per_gpu * r.gpus < experts)
    fail(cat(r.slots_per_gpu, " slots per GPU x ", r.gpus, " GPUs = ", r.slots_per_gpu * r.gpus,
             " slots cannot hold ", experts, " experts"),
         kWhere, cat("use at least ", (experts + r.gpus - 1) / r.gpus, " slots per GPU"));
}

std::vector<int64_t> replica_counts(const std::vector<double>& loads, int64_t slots, int64_t max_replicas) {
  const int64_t n = static_cast<int64_t>(loads.size());
  SADARI_ASSERT(n >= 1 && max_replicas >= 1 && slots >= n && slots <= n * max_replicas);
  std::vector<int64_t> counts(static_cast<size_t>(n), 1);
  // Highest per-replica load on top; ties: lower id.
  using Entry = std::pair<double, int64_t>;
  auto lower = [](const Entry& a, const Entry& b) {
    return a.first < b.first || (a.first == b.first && a.second > b.second);
  };
  std::priority_queue<Entry, std::vector<Entry>, decltype(lower)> heap(lower);
  if (max_replicas > 1)
    for (int64_t e = 0; e < n; ++e) heap.push({loads[e], e});
  for (int64_t extra = slots - n; extra > 0; --extra) {
    SADARI_ASSERT(!heap.empty());
    const int64_t e = heap.top().second;
    heap.pop();
    if (++counts[e] < max_replicas) heap.push({loads[e] / static_cast<double>(counts[e]), e});
  }
  return counts;
}

double placement_lower_bound(const std::vector<double>& loads, int64_t gpus, int64_t slots_per_gpu) {
  const std::vector<int64_t> counts = replica_counts(loads, gpus * slots_per_gpu, gpus);
  double total = 0, heaviest = 0;
  for (size_t e = 0; e < loads.size(); ++e) {
    total += loads[e];
    heaviest = std::max(heaviest, loads[e] / static_cast<double>(counts[e]));
  }
  return std::max(total / static_cast<double>(gpus), heaviest);
}

std::vector<double> gpu_loads(const ExpertPlacement& placement, const std::vector<double>& loads) {
  SADARI_ASSERT(static_cast<int64_t>(loads.size()) == placement.experts());
  std::vector<double> out(static_cast<size_t>(placement.ranks()), 0.0);
  for (int r = 0; r < placement.ranks(); ++r)
    for (int64_t e : placement.rank_slots(r))
      out[r] += loads[e] / static_cast<double>(placement.replicas(e).size());
  return out;
}

PlacementResult evaluate_placement(const ExpertPlacement& placement, const std::vector<double>& loads) {
  if (static_cast<int64_t>(loads.size()) != placement.experts())
    fail(cat("got ", loads.size(), " expert loads for a placement of ", placement.experts(), " experts"),
         "expert placement", "give one load per logical expert");
  PlacementResult r{placement, gpu_loads(placement, loads)};
  double total = 0;
  for (double l : loads) total += l;
  r.mean_load = total / placement.ranks();
  r.max_load = *std::max_element(r.gpu_loads.begin(), r.gpu_loads.end());
  r.lower_bound = placement_lower_bound(loads, placement.ranks(), placement.slots_per_rank());
  return r;
}

PlacementResult place_experts(const PlacementRequest& request, PlacementPolicy policy) {
  validate_placement_request(request);
  switch (policy) {
    case PlacementPolicy::identity: return evaluate_placement(identity_placement(request), request.loads);
    case PlacementPolicy::greedy: return evaluate_placement(flat_placement(request, false), request.loads);
    case PlacementPolicy::global: return evaluate_placement(flat_placement(request, true), request.loads);
    case PlacementPolicy::hierarchical:
      return evaluate_placement(hierarchical_placement(request), request.loads);
  }
  fail("unknown expert placement policy", kWhere);
}

}  // namespace sadari
