// Packing weighted items, each with one or more copies, into bins of a fixed
// number of slots: the engine under the expert placement policies
// (parallel/planner/expert_load_balancer.h). Items are experts (copies are
// replicas, weight = load / replicas) and bins GPUs, or items are expert groups
// and bins nodes.
//
// Rules every packing keeps: each bin gets exactly `capacity` items, no bin holds
// two copies of one item, item i appears count[i] times.
//
// lpt_pack: copies heaviest first (ties: lower item id), each into the least loaded
//   bin (ties: fewer items, then lower index) that has a free slot and lacks the
//   item. If every bin with a free slot already holds the item (possible when
//   light items filled the other bins), one repair step makes room: a full bin h
//   that lacks the item gives one of its items that the free bin g lacks to g,
//   and h takes the copy. Such h and item always exist (count[i] <= bins, and g
//   has fewer items than h), so the packing never fails.
// refine_by_swaps: repeatedly takes the most loaded bin and applies the swap of
//   one of its items with a lighter item of another bin that lowers the pair's
//   maximum the most. When no swap helps the most loaded bin, one balancing
//   sweep evens out every pair of bins (heaviest first) by the same kind of swap,
//   which often gives the most loaded bin partners again, and the loop resumes;
//   it stops when a sweep changes nothing, after the sweep, or after `max_rounds`
//   swaps. Each swap lowers the sum of squared bin loads, and the maximum over
//   all bins never rises. (Measured on bench/expert_placement_bench: one sweep
//   gives most of what four do, at about 1.5x the time of none.)
//
// Pure functions; preconditions are checked with SADARI_ASSERT (the callers
// validate user input first).
#pragma once

#include <cstdint>
#include <vector>

namespace sadari::planner_detail {

struct Packing {
  std::vector<std::vector<int64_t>> items;  // per bin: item ids (any order)
  std::vector<double> load;                 // per bin: sum of its items' weights
};

// weight[i]: weight of one copy of item i; count[i] >= 1 copies; REQUIRES
// sum(count) == bins * capacity and count[i] <= bins.
Packing lpt_pack(const std::vector<double>& weight, const std::vector<int64_t>& count,
                 int64_t bins, int64_t capacity);

// Improves `p` in place (see the header comment). Returns the number of swaps.
int64_t refine_by_swaps(Packing& p, const std::vector<double>& weight, int64_t max_rounds);

// For replicas of experts (weight = loads[i] / count[i]): refine_by_swaps, then
// replica-count moves, each followed by swaps again: on the most loaded bin, one
// replica of an expert with count >= 2 becomes a new replica of an expert the bin
// lacks, when that lowers the overall maximum (the count rule of the callers
// minimises the heaviest replica, not the heaviest bin). Updates `count` and the
// packing; keeps every rule above. Returns swaps + moves.
int64_t refine_replicas(Packing& p, const std::vector<double>& loads, std::vector<int64_t>& count,
                        int64_t max_rounds);

}  // namespace sadari::planner_detail
