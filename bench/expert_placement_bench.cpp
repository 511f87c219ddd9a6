// expert_placement_bench: balance and speed of the expert placement policies
// (parallel/planner/expert_load_balancer.h) on DeepSeek-V3-sized problems.
//
//   build/bench/expert_placement_bench [--repeats N] [--seed S]
//
// Problems: 256 experts in 8 groups, 58 MoE layers, with
//   64 GPUs (8 nodes x 8), 4 slots per GPU: no replicas (identity possible);
//   64 GPUs (8 nodes x 8), 5 slots per GPU: 64 replicas;
//   32 GPUs (4 nodes x 8), 9 slots per GPU: 32 replicas (2 groups per node).
// Loads, seeded, a fresh draw per layer (token counts):
//   lognormal  round(1000 * exp(N(0, sigma))), sigma 0.5 and 1.0;
//   zipf       round(1e5 / rank^0.7) over shuffled experts.
// For each policy, problem and load kind:
//   cpu ms     median thread CPU time of one full 58-layer placement over
//              --repeats runs (one thread; CPU time, which a shared, busy
//              machine does not inflate), and that time over greedy's
//              ("x greedy"); wall ms the median wall time of the same runs;
//   max/mean   sum over layers of the most loaded GPU's load over the sum of the
//              means (a step waits for each layer's most loaded GPU);
//   max/bound  the same over the sum of the lower bounds (max of the mean and the
//              heaviest replica under the best replica counts; 1.0 = provably
//              optimal on every layer);
//   worst      the worst single layer's max/mean.
// Balance ratios are deterministic for a seed; nothing passes or fails.
#include <algorithm>
#include <time.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_cli.h"
#include "bench/bench_util.h"
#include "core/error.h"
#include "parallel/planner/expert_load_balancer.h"

namespace sadari {
namespace {

using bench::Clock;
using bench::median;
using bench::seconds_since;

constexpr int64_t kExperts = 256, kGroups = 8, kLayers = 58;

struct Problem {
  const char* name;
  int64_t gpus, gpus_per_node, slots;
};

struct LoadKind {
  const char* name;
  double sigma;  // lognormal sigma; 0 = zipf
};

std::vector<std::vector<double>> make_loads(const LoadKind& kind, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<double>> layers(kLayers, std::vector<double>(kExperts));
  for (auto& loads : layers) {
    if (kind.sigma > 0) {
      std::lognormal_distribution<double> d(0.0, kind.sigma);
      for (auto& l : loads) l = std::round(1000 * d(rng));
    } else {
      for (int64_t e = 0; e < kExperts; ++e) loads[e] = std::round(1e5 / std::pow(static_cast<double>(e + 1), 0.7));
      std::shuffle(loads.begin(), loads.end(), rng);
    }
  }
  return layers;
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

struct Figures {
  double cpu_ms = 0, ms = 0, max_over_mean = 0, max_over_bound = 0, worst = 0;
};

Figures run(const Problem& pb, const std::vector<std::vector<double>>& layers, PlacementPolicy policy, int repeats) {
  PlacementRequest r;
  r.gpus = pb.gpus;
  r.gpus_per_node = pb.gpus_per_node;
  r.slots_per_gpu = pb.slots;
  r.expert_groups = kGroups;
  Figures f;
  double max_sum = 0, mean_sum = 0, bound_sum = 0;
  std::vector<double> times, cpu_times;
  for (int rep = 0; rep < repeats; ++rep) {
    max_sum = mean_sum = bound_sum = 0;
    f.worst = 0;
    const auto t0 = Clock::now();
    const double c0 = thread_cpu_seconds();
    for (const auto& loads : layers) {
      r.loads = loads;
      const PlacementResult res = place_experts(r, policy);
      max_sum += res.max_load;
      mean_sum += res.mean_load;
      bound_sum += res.lower_bound;
      f.worst = std::max(f.worst, res.imbalance());
    }
    cpu_times.push_back(thread_cpu_seconds() - c0);
    times.push_back(seconds_since(t0));
  }
  f.ms = 1e3 * median(times);
  f.cpu_ms = 1e3 * median(cpu_times);
  f.max_over_mean = max_sum / mean_sum;
  f.max_over_bound = max_sum / bound_sum;
  return f;
}

int main_bench(int argc, char** argv) {
  const bench::Args args("expert_placement_bench", argc, argv,
                         {{"repeats", true, false, "timed repeats per placement (default 7)"},
                          {"seed", true, false, "seed of the synthetic loads (default 1)"}});
  if (args.help("usage: expert_placement_bench [--repeats N] [--seed S]")) return 0;
  const int repeats = static_cast<int>(args.integer("repeats", 7, 1, 1000000));
  const uint64_t seed = static_cast<uint64_t>(args.integer("seed", 1, 0));
  const Problem problems[] = {{"64 GPUs x 4 slots (no replicas)", 64, 8, 4},
                              {"64 GPUs x 5 slots (64 replicas)", 64, 8, 5},
                              {"32 GPUs x 9 slots (32 replicas)", 32, 8, 9}};
  const LoadKind kinds[] = {{"lognormal s=0.5", 0.5}, {"lognormal s=1.0", 1.0}, {"zipf 0.7", 0}};
  const PlacementPolicy policies[] = {PlacementPolicy::identity, PlacementPolicy::greedy, PlacementPolicy::global,
                                      PlacementPolicy::hierarchical};
  std::printf("expert placement: %lld experts, %lld groups, %lld layers per placement, %d repeats, seed %llu\n",
              static_cast<long long>(kExperts), static_cast<long long>(kGroups), static_cast<long long>(kLayers),
              repeats, static_cast<unsigned long long>(seed));
  for (const Problem& pb : problems) {
    for (const LoadKind& kind : kinds) {
      const auto layers = make_loads(kind, seed);
      std::printf("\n%s, %s loads\n", pb.name, kind.name);
      std::printf("  %-13s %9s %9s %9s %9s %10s %7s\n", "policy", "cpu ms", "x greedy", "wall ms", "max/mean",
                  "max/bound", "worst");
      double greedy_ms = 0;
      for (PlacementPolicy p : policies) {
        if (p == PlacementPolicy::identity && pb.gpus * pb.slots != kExperts) continue;
        const Figures f = run(pb, layers, p, repeats);
        if (p == PlacementPolicy::greedy) greedy_ms = f.cpu_ms;
        char ratio[32] = "-";
        if (greedy_ms > 0) std::snprintf(ratio, sizeof ratio, "%.2f", f.cpu_ms / greedy_ms);
        std::printf("  %-13s %9.2f %9s %9.2f %9.4f %10.4f %7.3f\n", placement_policy_name(p), f.cpu_ms, ratio, f.ms,
                    f.max_over_mean, f.max_over_bound, f.worst);
      }
    }
  }
  return 0;
}

}  // namespace
}  // namespace sadari

int main(int argc, char** argv) {
  return sadari::bench::run_main("expert_placement_bench",
                                 [&] { return sadari::main_bench(argc, argv); });
}
