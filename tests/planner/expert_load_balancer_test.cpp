// Expert placement policies (parallel/planner/expert_load_balancer.h): exact
// answers on small hand-made cases (worked out in the comments), the invariants
// of every result on many random requests, groups kept on their nodes, global
// never worse than greedy, identity worse than global on skewed loads, and the
// errors of impossible requests.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <set>

#include "core/error.h"
#include "parallel/planner/expert_load_balancer.h"

namespace sadari {
namespace {

using Slots = std::vector<std::vector<int64_t>>;

Slots slots_of(const ExpertPlacement& p) {
  Slots s;
  for (int r = 0; r < p.ranks(); ++r) s.push_back(p.rank_slots(r));
  return s;
}

PlacementRequest request(std::vector<double> loads, int64_t gpus, int64_t slots, int64_t gpus_per_node = 8,
                         int64_t groups = 1) {
  PlacementRequest r;
  r.loads = std::move(loads);
  r.gpus = gpus;
  r.slots_per_gpu = slots;
  r.gpus_per_node = gpus_per_node;
  r.expert_groups = groups;
  return r;
}

// Throws-with-message check: the Error's one line contains every part.
template <typename F>
void expect_error(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "no Error thrown";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "missing '" << p << "' in: " << msg;
  }
}

TEST(ReplicaCounts, HeaviestPerReplicaLoadGetsEachExtraSlot) {
  // 9 -> 2 replicas (4.5 each) -> 3 (3 each, the cap); then expert 1 (3) beats
  // expert 0's capped 3 and expert 2's 1: counts 3, 2, 1.
  EXPECT_EQ(replica_counts({9, 3, 1}, 6, 3), (std::vector<int64_t>{3, 2, 1}));
  // No extra slots: one each. Ties go to the lower id.
  EXPECT_EQ(replica_counts({2, 2, 2}, 3, 4), (std::vector<int64_t>{1, 1, 1}));
  EXPECT_EQ(replica_counts({2, 2, 2}, 4, 4), (std::vector<int64_t>{2, 1, 1}));
  // Lower bound on 2 GPUs x 2 slots: counts {2, 1, 1}, heaviest replica 4.5, below
  // the mean 13 / 2 = 6.5.
  EXPECT_DOUBLE_EQ(placement_lower_bound({9, 3, 1}, 2, 2), 6.5);
  // One GPU cannot split anything: the bound is the total.
  EXPECT_DOUBLE_EQ(placement_lower_bound({9, 3, 1}, 1, 3), 13);
}

TEST(ExpertLoadBalancer, SwapsFixWhatGreedyPackingMisses) {
  // Loads 3 3 2 2 2 0 on 2 GPUs x 3 slots, no replicas; lower bound 6 (mean).
  // identity: {3,3,2} = 8. greedy (LPT): 3->g0, 3->g1, 2->g0, 2->g1, 2->g0 (ties:
  // lower index) = 7, 0->g1 = 5. global: swapping g0's 3 with g1's 2 gives 6 and 6.
  const PlacementRequest r = request({3, 3, 2, 2, 2, 0}, 2, 3);
  const PlacementResult id = place_experts(r, PlacementPolicy::identity);
  EXPECT_EQ(slots_of(id.placement), (Slots{{0, 1, 2}, {3, 4, 5}}));
  EXPECT_DOUBLE_EQ(id.max_load, 8);
  const PlacementResult greedy = place_experts(r, PlacementPolicy::greedy);
  EXPECT_EQ(slots_of(greedy.placement), (Slots{{0, 2, 4}, {1, 3, 5}}));
  EXPECT_DOUBLE_EQ(greedy.max_load, 7);
  const PlacementResult global = place_experts(r, PlacementPolicy::global);
  EXPECT_EQ(slots_of(global.placement), (Slots{{2, 3, 4}, {0, 1, 5}}));
  EXPECT_DOUBLE_EQ(global.max_load, 6);
  EXPECT_EQ(global.gpu_loads, (std::vector<double>{6, 6}));
  for (const auto* res : {&id, &greedy, &global}) {
    EXPECT_DOUBLE_EQ(res->mean_load, 6);
    EXPECT_DOUBLE_EQ(res->lower_bound, 6);
  }
  EXPECT_DOUBLE_EQ(global.imbalance(), 1.0);
  EXPECT_DOUBLE_EQ(id.imbalance(), 8.0 / 6.0);
}

TEST(ExpertLoadBalancer, ReplicatesTheHotExpertAcrossGpus) {
  // Loads 6 2 2 2 on 2 GPUs x 3 slots: counts {2 (capped at 2 GPUs), 2, 1, 1},
  // replica loads 3 1 2 2. LPT: expert 0 on g0 and g1, 2->g0, 3->g1, expert 1 on
  // both: 6 and 6, the lower bound (mean 6, heaviest replica 3).
  const PlacementResult r = place_experts(request({6, 2, 2, 2}, 2, 3), PlacementPolicy::greedy);
  EXPECT_EQ(slots_of(r.placement), (Slots{{0, 1, 2}, {0, 1, 3}}));
  EXPECT_EQ(r.placement.replicas(0).size(), 2u);
  EXPECT_EQ(r.placement.replicas(1).size(), 2u);
  EXPECT_EQ(r.placement.replicas(2).size(), 1u);
  EXPECT_EQ(r.gpu_loads, (std::vector<double>{6, 6}));
  EXPECT_DOUBLE_EQ(r.lower_bound, 6);
  EXPECT_EQ(place_experts(request({6, 2, 2, 2}, 2, 3), PlacementPolicy::global).placement, r.placement);
}

TEST(ExpertLoadBalancer, LowerBoundIsNotAlwaysReachable) {
  // 8 1 1 1 1 1 1 2 on 2 GPUs x 4 slots: the GPU holding 8 holds three more
  // experts of load >= 1, so 11 is optimal, while the bound says max(8, 8) = 8.
  const PlacementRequest r = request({8, 1, 1, 1, 1, 1, 1, 2}, 2, 4);
  for (PlacementPolicy p : {PlacementPolicy::identity, PlacementPolicy::greedy, PlacementPolicy::global}) {
    const PlacementResult res = place_experts(r, p);
    EXPECT_DOUBLE_EQ(res.max_load, 11) << placement_policy_name(p);
    EXPECT_DOUBLE_EQ(res.lower_bound, 8);
  }
}

TEST(ExpertLoadBalancer, HierarchicalPacksGroupsOntoNodesThenGpus) {
  // 8 experts in 4 groups of 2; 4 GPUs, 2 per node, 2 slots each (no replicas).
  // Loads 6 3 | 3 2 | 2 2 | 1 0: group loads 9 5 4 1. Groups onto 2 nodes, 2 each
  // (LPT): g0->n0, g1->n1, g2->n1 (5 < 9), g3->n0: 10 and 9; no swap lowers 10.
  // Node 0 (experts 0 1 6 7: 6 3 1 0): 6->GPU0, 3->GPU1, 1->GPU1, 0->GPU0.
  // Node 1 (experts 2 3 4 5: 3 2 2 2): 3->GPU2, 2->GPU3, 2->GPU3, 2->GPU2.
  const PlacementRequest r = request({6, 3, 3, 2, 2, 2, 1, 0}, 4, 2, /*gpus_per_node=*/2, /*groups=*/4);
  const PlacementResult h = place_experts(r, PlacementPolicy::hierarchical);
  EXPECT_EQ(slots_of(h.placement), (Slots{{0, 7}, {1, 6}, {2, 5}, {3, 4}}));
  EXPECT_EQ(h.gpu_loads, (std::vector<double>{6, 4, 5, 4}));
  EXPECT_DOUBLE_EQ(h.max_load, 6);
  EXPECT_DOUBLE_EQ(h.mean_load, 19.0 / 4);
  EXPECT_DOUBLE_EQ(h.lower_bound, 6);
}

TEST(ExpertLoadBalancer, HierarchicalReplicatesWithinTheNode) {
  // Same groups, 3 slots per GPU: each node has 6 slots for its 4 experts. Node 0
  // (6 3 1 0): expert 0 gets 2 replicas (3 each, capped at the node's 2 GPUs), then
  // expert 1 (3): replica loads 3 3 | 1.5 1.5 | 1 | 0, packed 3+1.5+1 = 5.5 and
  // 3+1.5+0 = 4.5 on GPUs 0 and 1, which a swap of 1 and 0 cannot improve.
  const PlacementRequest r = request({6, 3, 3, 2, 2, 2, 1, 0}, 4, 3, 2, 4);
  const PlacementResult h = place_experts(r, PlacementPolicy::hierarchical);
  for (int64_t e : {0, 1}) {
    ASSERT_EQ(h.placement.replicas(e).size(), 2u) << e;
    EXPECT_EQ(h.placement.replicas(e)[0].rank, 0);
    EXPECT_EQ(h.placement.replicas(e)[1].rank, 1);
  }
  EXPECT_DOUBLE_EQ(h.gpu_loads[0] + h.gpu_loads[1], 10);
  EXPECT_DOUBLE_EQ(std::max(h.gpu_loads[0], h.gpu_loads[1]), 5.5);
  for (int64_t e : {2, 3, 4, 5})
    for (const auto& rep : h.placement.replicas(e)) EXPECT_GE(rep.rank, 2) << "expert " << e << " left node 1";
}

TEST(ExpertLoadBalancer, RejectsImpossibleRequests) {
  expect_error([] { place_experts(request({1, 2, 3, 4}, 2, 3), PlacementPolicy::identity); },
               {"identity", "6 slots", "4 experts"});
  expect_error([] { place_experts(request({1, 2, 3, 4}, 2, 1), PlacementPolicy::global); },
               {"2 slots cannot hold 4 experts", "at least 2 slots per GPU"});
  expect_error([] { place_experts(request({1, 2, 3, 4}, 2, 5), PlacementPolicy::global); },
               {"slots_per_gpu", "[1, 4]"});
  expect_error([] { place_experts(request({1, -2, 3, 4}, 2, 2), PlacementPolicy::greedy); },
               {"expert 1", "-2"});
  expect_error([] { place_experts(request({1, NAN, 3, 4}, 2, 2), PlacementPolicy::greedy); }, {"expert 1"});
  expect_error([] { place_experts(request({}, 2, 2), PlacementPolicy::greedy); }, {"no expert loads"});
  expect_error([] { place_experts(request({1, 2, 3, 4}, 2, 2, 8, 3), PlacementPolicy::greedy); },
               {"expert_groups 3", "4 experts"});
  // 2 nodes of 2 GPUs, 1 group: groups cannot be split over nodes.
  expect_error([] { place_experts(request({1, 2, 3, 4}, 4, 1, 2, 1), PlacementPolicy::hierarchical); },
               {"1 groups cannot be split over 2 nodes", "global"});
  expect_error([] { place_experts(request({1, 2, 3, 4, 5, 6}, 3, 2, 2, 3), PlacementPolicy::hierarchical); },
               {"gpus_per_node 2 does not divide gpus 3"});
  // 2 nodes, 2 experts each: 3 slots per GPU would need a duplicate.
  expect_error([] { place_experts(request({1, 2, 3, 4}, 4, 3, 2, 2), PlacementPolicy::hierarchical); },
               {"2 experts", "slots_per_gpu 3"});
  expect_error([] { parse_placement_policy("best", "--policy"); }, {"--policy", "'best'", "hierarchical"});
}

TEST(ExpertLoadBalancer, EvaluatesAnExistingPlacement) {
  const ExpertPlacement p = ExpertPlacement::from_slots(4, {{0, 1}, {0, 2}, {3, 1}});
  const PlacementResult r = evaluate_placement(p, {8, 2, 3, 1});
  // expert 0 and 1 have 2 replicas each: 4+1, 4+3, 1+1.
  EXPECT_EQ(r.gpu_loads, (std::vector<double>{5, 7, 2}));
  EXPECT_DOUBLE_EQ(r.max_load, 7);
  EXPECT_DOUBLE_EQ(r.mean_load, 14.0 / 3);
  expect_error([&] { evaluate_placement(p, {1, 2}); }, {"2 expert loads", "4 experts"});
}

// ---------------------------------------------------------------------------
// Random requests

std::vector<double> random_loads(std::mt19937_64& rng, int64_t experts, int kind) {
  std::vector<double> loads(static_cast<size_t>(experts));
  if (kind == 0) {  // lognormal, heavy tail
    std::lognormal_distribution<double> d(0.0, 1.5);
    for (auto& l : loads) l = std::round(1000 * d(rng));
  } else if (kind == 1) {  // Zipf-like, shuffled
    for (int64_t e = 0; e < experts; ++e) loads[e] = 1e4 / std::pow(static_cast<double>(e + 1), 1.1);
    std::shuffle(loads.begin(), loads.end(), rng);
  } else if (kind == 2) {  // many zeros
    std::uniform_int_distribution<int> d(0, 3);
    for (auto& l : loads) l = d(rng) == 0 ? d(rng) * 17.0 : 0.0;
  } else {  // uniform
    std::uniform_real_distribution<double> d(0, 1);
    for (auto& l : loads) l = d(rng);
  }
  return loads;
}

// Every invariant a result must keep, for request `r`.
void check_result(const PlacementRequest& r, const PlacementResult& res, const std::string& what) {
  const ExpertPlacement& p = res.placement;
  const int64_t experts = static_cast<int64_t>(r.loads.size());
  ASSERT_EQ(p.experts(), experts) << what;
  ASSERT_EQ(p.ranks(), r.gpus) << what;
  ASSERT_EQ(p.slots_per_rank(), r.slots_per_gpu) << what;
  int64_t slots = 0;
  for (int g = 0; g < p.ranks(); ++g) {
    const auto& s = p.rank_slots(g);
    ASSERT_EQ(static_cast<int64_t>(s.size()), r.slots_per_gpu) << what << " gpu " << g;
    EXPECT_EQ(std::set<int64_t>(s.begin(), s.end()).size(), s.size()) << what << " duplicate on gpu " << g;
    slots += static_cast<int64_t>(s.size());
  }
  EXPECT_EQ(slots, r.gpus * r.slots_per_gpu) << what;
  double total = 0;
  for (int64_t e = 0; e < experts; ++e) {
    EXPECT_GE(p.replicas(e).size(), 1u) << what << " expert " << e;
    total += r.loads[e];
  }
  const std::vector<double> loads = gpu_loads(p, r.loads);
  ASSERT_EQ(res.gpu_loads, loads) << what;
  const double sum = std::accumulate(loads.begin(), loads.end(), 0.0);
  const double tol = 1e-9 * std::max(1.0, total);
  EXPECT_NEAR(sum, total, tol) << what;
  EXPECT_DOUBLE_EQ(res.max_load, *std::max_element(loads.begin(), loads.end())) << what;
  EXPECT_NEAR(res.mean_load, total / static_cast<double>(r.gpus), tol) << what;
  EXPECT_LE(res.lower_bound, res.max_load + tol) << what;
  EXPECT_GE(res.lower_bound, res.mean_load - tol) << what;
}

// Every replica of a group's experts on the group's one node; every node the
// same number of groups.
void check_groups_on_nodes(const PlacementRequest& r, const PlacementResult& res, const std::string& what) {
  const int64_t experts = static_cast<int64_t>(r.loads.size());
  const int64_t nodes = r.gpus <= r.gpus_per_node ? 1 : r.gpus / r.gpus_per_node;
  const int64_t node_gpus = r.gpus / nodes;
  const int64_t per_group = experts / r.expert_groups;
  std::vector<int64_t> groups_on(static_cast<size_t>(nodes), 0);
  for (int64_t g = 0; g < r.expert_groups; ++g) {
    const int64_t node = res.placement.replicas(g * per_group)[0].rank / node_gpus;
    ++groups_on[node];
    for (int64_t e = g * per_group; e < (g + 1) * per_group; ++e)
      for (const auto& rep : res.placement.replicas(e))
        EXPECT_EQ(rep.rank / node_gpus, node) << what << ": expert " << e << " of group " << g << " on GPU "
                                              << rep.rank;
  }
  for (int64_t n = 0; n < nodes; ++n) EXPECT_EQ(groups_on[n], r.expert_groups / nodes) << what << " node " << n;
}

TEST(ExpertLoadBalancer, RandomRequestsKeepEveryInvariant) {
  std::mt19937_64 rng(2026);
  int hierarchical_runs = 0, identity_runs = 0;
  for (int seed = 0; seed < 300; ++seed) {
    std::uniform_int_distribution<int64_t> pick(1, 8);
    const int64_t node_gpus = pick(rng);
    const int64_t nodes = std::uniform_int_distribution<int64_t>(1, 4)(rng);
    const int64_t gpus = node_gpus * nodes;
    const int64_t groups = nodes * std::uniform_int_distribution<int64_t>(1, 3)(rng);
    const int64_t per_group = pick(rng);
    const int64_t experts = groups * per_group;
    const int64_t min_slots = (experts + gpus - 1) / gpus;
    const int64_t slots = std::min(experts / nodes, min_slots + std::uniform_int_distribution<int64_t>(0, 2)(rng));
    if (slots < min_slots) continue;  // too few experts per node for these GPUs
    PlacementRequest r = request(random_loads(rng, experts, seed % 4), gpus, slots, node_gpus, groups);
    const std::string what = detail::cat("case ", seed, ": ", experts, " experts, ", gpus, " gpus (", nodes,
                                         " nodes), ", slots, " slots, ", groups, " groups");
    std::vector<PlacementPolicy> policies = {PlacementPolicy::greedy, PlacementPolicy::global,
                                             PlacementPolicy::hierarchical};
    if (gpus * slots == experts) {
      policies.push_back(PlacementPolicy::identity);
      ++identity_runs;
    }
    double greedy_max = 0;
    for (PlacementPolicy p : policies) {
      const PlacementResult res = place_experts(r, p);
      check_result(r, res, what + " " + placement_policy_name(p));
      if (p == PlacementPolicy::greedy) greedy_max = res.max_load;
      if (p == PlacementPolicy::global) {
        EXPECT_LE(res.max_load, greedy_max) << what;
      }
      if (p == PlacementPolicy::hierarchical) {
        check_groups_on_nodes(r, res, what);
        ++hierarchical_runs;
      }
      // Deterministic.
      EXPECT_EQ(place_experts(r, p).placement, res.placement) << what;
    }
  }
  EXPECT_GT(hierarchical_runs, 200);
  EXPECT_GT(identity_runs, 20);
}

// Skewed but plausible router statistics: lognormal (sigma 1) token counts, or
// Zipf-like counts 1 / rank^0.7 over shuffled experts.
std::vector<double> skewed_loads(std::mt19937_64& rng, int64_t experts, int kind) {
  std::vector<double> loads(static_cast<size_t>(experts));
  if (kind == 0) {
    std::lognormal_distribution<double> d(0.0, 1.0);
    for (auto& l : loads) l = std::round(1000 * d(rng));
  } else {
    for (int64_t e = 0; e < experts; ++e) loads[e] = std::round(1e5 / std::pow(static_cast<double>(e + 1), 0.7));
    std::shuffle(loads.begin(), loads.end(), rng);
  }
  return loads;
}

// The smallest max load over every valid placement of `loads` on `gpus` GPUs x
// `slots` slots (each GPU a set of distinct experts, every expert placed), by
// enumeration: tiny cases only.
double brute_force_optimum(const std::vector<double>& loads, int64_t gpus, int64_t slots) {
  const int64_t n = static_cast<int64_t>(loads.size());
  std::vector<std::vector<int64_t>> sets;  // every set of `slots` distinct experts
  for (uint32_t mask = 0; mask < (1u << n); ++mask)
    if (__builtin_popcount(mask) == slots) {
      std::vector<int64_t> set;
      for (int64_t e = 0; e < n; ++e)
        if (mask >> e & 1) set.push_back(e);
      sets.push_back(set);
    }
  double best = INFINITY;
  std::vector<size_t> pick(static_cast<size_t>(gpus), 0);
  while (true) {
    std::vector<int64_t> count(static_cast<size_t>(n), 0);
    for (size_t g : pick)
      for (int64_t e : sets[g]) ++count[e];
    if (std::all_of(count.begin(), count.end(), [](int64_t c) { return c > 0; })) {
      double worst = 0;
      for (size_t g : pick) {
        double load = 0;
        for (int64_t e : sets[g]) load += loads[e] / static_cast<double>(count[e]);
        worst = std::max(worst, load);
      }
      best = std::min(best, worst);
    }
    size_t k = 0;  // next combination (odometer)
    while (k < pick.size() && ++pick[k] == sets.size()) pick[k++] = 0;
    if (k == pick.size()) break;
  }
  return best;
}

TEST(ExpertLoadBalancer, LowerBoundHoldsAgainstExhaustiveSearch) {
  // Every placement, replicas included, of small random cases: the bound is
  // never above the true optimum, and no policy beats it (which would mean a
  // wrong load evaluation).
  std::mt19937_64 rng(11);
  struct Shape {
    int64_t experts, gpus, slots;
  };
  int global_optimal = 0, greedy_optimal = 0, cases = 0;
  for (const Shape& sh : {Shape{4, 3, 2}, Shape{5, 2, 3}, Shape{5, 4, 2}, Shape{6, 3, 3}}) {
    for (int seed = 0; seed < 25; ++seed) {
      const std::vector<double> loads = random_loads(rng, sh.experts, seed % 4);
      const PlacementRequest r = request(loads, sh.gpus, sh.slots);
      const double opt = brute_force_optimum(loads, sh.gpus, sh.slots);
      const std::string what = detail::cat(sh.experts, " experts on ", sh.gpus, " x ", sh.slots, ", seed ", seed);
      const PlacementResult greedy = place_experts(r, PlacementPolicy::greedy);
      const PlacementResult global = place_experts(r, PlacementPolicy::global);
      const double tol = 1e-9 * std::max(1.0, opt);
      EXPECT_LE(global.lower_bound, opt + tol) << what;
      EXPECT_GE(global.max_load, opt - tol) << what;
      EXPECT_GE(greedy.max_load, opt - tol) << what;
      global_optimal += global.max_load <= opt + tol;
      greedy_optimal += greedy.max_load <= opt + tol;
      ++cases;
    }
  }
  // The replica-count moves of global (parallel/planner/replica_packing.h) find
  // optima that the count rule alone misses.
  EXPECT_GT(global_optimal, greedy_optimal);
  std::printf("exhaustive search: global optimal in %d of %d cases, greedy in %d\n", global_optimal, cases,
              greedy_optimal);
}

// DeepSeek-V3-like shapes: 256 experts in 8 groups on 64 GPUs (8 nodes of 8),
// 4 slots per GPU (no replicas) and 5 (64 replicas), seeded skewed loads.
// Prints the figures.
TEST(ExpertLoadBalancer, SkewedLoadsBeatIdentityAndGreedy) {
  std::mt19937_64 rng(7);
  double sum[4][2] = {};  // policy x {no replicas, replicas}: summed max/mean
  int strictly_better = 0, cases = 0;
  for (int seed = 0; seed < 12; ++seed) {
    const std::vector<double> loads = skewed_loads(rng, 256, seed % 2);
    for (int extra = 0; extra < 2; ++extra) {
      const PlacementRequest r = request(loads, 64, 4 + extra, 8, 8);
      const std::string what = detail::cat("case ", seed, ", ", 4 + extra, " slots");
      const PlacementResult greedy = place_experts(r, PlacementPolicy::greedy);
      const PlacementResult global = place_experts(r, PlacementPolicy::global);
      const PlacementResult hier = place_experts(r, PlacementPolicy::hierarchical);
      check_groups_on_nodes(r, hier, what);
      EXPECT_LE(global.max_load, greedy.max_load) << what;
      if (global.max_load < greedy.max_load) ++strictly_better;
      ++cases;
      if (extra == 0) {
        const PlacementResult id = place_experts(r, PlacementPolicy::identity);
        EXPECT_GT(id.imbalance(), global.imbalance()) << what;
        EXPECT_GT(id.imbalance(), hier.imbalance()) << what;
        sum[0][0] += id.imbalance();
      }
      // Replicas help: the 5-slot bound and result are below the 4-slot ones.
      sum[1][extra] += greedy.imbalance();
      sum[2][extra] += global.imbalance();
      sum[3][extra] += hier.imbalance();
    }
  }
  EXPECT_GT(strictly_better, 0) << "the swaps never improved on greedy packing";
  std::printf("mean max/mean over 12 seeds (4 slots | 5 slots): identity %.3f | -, greedy %.3f | %.3f, "
              "global %.3f | %.3f, hierarchical %.3f | %.3f; global < greedy in %d of %d cases\n",
              sum[0][0] / 12, sum[1][0] / 12, sum[1][1] / 12, sum[2][0] / 12, sum[2][1] / 12, sum[3][0] / 12,
              sum[3][1] / 12, strictly_better, cases);
}

}  // namespace
}  // namespace sadari
