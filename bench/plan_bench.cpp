// How long the auto-planner takes for DeepSeek-V3 on 2048 H800 (the acceptance
// target: under 2 seconds), and how that compares with its baseline, a plain
// loop of layout_problem + estimate() over the same candidates on one thread.
//
//   plan_bench [MODEL.yaml CLUSTER.yaml]   (default: configs/models/deepseek-v3.yaml
//                                           on configs/clusters/h800-2048.yaml)
//
// Two workloads: 4096 x 4K tokens in BF16 (`sadari plan`'s default) and DeepSeek's
// final 15360 x 4K in FP8. For each: the first search ("cold": the cost model's
// schedule simulations are not cached yet in this process, except shapes an
// earlier workload already simulated), then the median of 3 warm searches, then
// the baseline loop (warm). Reported: wall and process CPU seconds, layouts
// enumerated and estimated per second, and search / baseline. The search runs the
// candidates on OpenMP threads (OMP_NUM_THREADS), so on an idle multi-core box
// the ratio falls below 1; on a loaded one, compare CPU seconds.
#include <omp.h>

#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "bench/bench_cli.h"
#include "bench/bench_util.h"
#include "core/config_load.h"
#include "core/error.h"
#include "parallel/planner/layout_search.h"

namespace {

using sadari::bench::Clock;
using sadari::bench::seconds_since;

double cpu_seconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

struct Timing {
  double wall = 0, cpu = 0;
};

template <typename F>
Timing timed(F&& f) {
  const double c0 = cpu_seconds();
  const auto t0 = Clock::now();
  f();
  return {seconds_since(t0), cpu_seconds() - c0};
}

}  // namespace

int main_bench(int argc, char** argv) {
  const sadari::bench::Args args("plan_bench", argc, argv, {});
  if (args.help("usage: plan_bench [MODEL.yaml CLUSTER.yaml]")) return 0;
  const std::vector<std::string>& files = args.positional();
  if (files.size() > 2)
    throw sadari::UsageError("takes at most two arguments: MODEL.yaml CLUSTER.yaml", "",
                             "see plan_bench --help");
  const std::string root = SADARI_SOURCE_DIR;
  const std::string model_path = files.size() > 0 ? files[0] : root + "/configs/models/deepseek-v3.yaml";
  const std::string cluster_path = files.size() > 1 ? files[1] : root + "/configs/clusters/h800-2048.yaml";
  const sadari::ModelConfig model = sadari::load_config(model_path).model;
  const sadari::ClusterSpec cluster = sadari::load_cluster(cluster_path);
  std::printf("plan_bench: %s on %s (%lld GPUs), %d OpenMP threads\n", model.name.c_str(),
              cluster.name.c_str(), static_cast<long long>(cluster.gpus()), omp_get_max_threads());
  struct Case {
    int64_t global_batch, seq_len;
    const char* precision;
  };
  for (const Case& c : {Case{4096, 4096, "bf16"}, Case{15360, 4096, "fp8"}}) {
    sadari::Workload work;
    work.global_batch = c.global_batch;
    work.seq_len = c.seq_len;
    work.precision = c.precision;
    sadari::SearchResult result;
    const Timing cold = timed([&] { result = sadari::search_layouts(model, cluster, work); });
    std::vector<double> warm_wall, warm_cpu;
    for (int i = 0; i < 3; ++i) {
      const Timing t = timed([&] { result = sadari::search_layouts(model, cluster, work); });
      warm_wall.push_back(t.wall);
      warm_cpu.push_back(t.cpu);
    }
    // Baseline: the same candidates, checked and estimated in a plain loop.
    const std::vector<sadari::Layout> layouts =
        sadari::enumerate_layouts(model, work, cluster.gpus());
    int64_t estimated = 0;
    double sink = 0;
    const Timing base = timed([&] {
      for (const auto& l : layouts) {
        if (!sadari::layout_problem(model, cluster, work, l).empty()) continue;
        sink += sadari::estimate(model, cluster, work, l).time.step;
        ++estimated;
      }
    });
    const double wall = sadari::bench::median(warm_wall), cpu = sadari::bench::median(warm_cpu);
    std::printf(
        "  batch %lld x %lld %s: %lld layouts, %lld estimated, %lld fit; winner %s\n"
        "    search cold  %.3f s wall %.3f s cpu\n"
        "    search warm  %.3f s wall %.3f s cpu (median of 3): %.0f layouts/s, %.0f estimates/s\n"
        "    baseline     %.3f s wall %.3f s cpu (one thread, %lld estimate() calls, %.1f us each)\n"
        "    search / baseline: %.2f wall, %.2f cpu   (checksum %.3g)\n",
        static_cast<long long>(c.global_batch), static_cast<long long>(c.seq_len), c.precision,
        static_cast<long long>(result.enumerated), static_cast<long long>(result.estimated),
        static_cast<long long>(result.fitting),
        result.best.empty() ? "(none fits)" : result.best.front().layout.describe().c_str(), cold.wall,
        cold.cpu, wall, cpu, static_cast<double>(result.enumerated) / wall,
        static_cast<double>(result.estimated) / wall, base.wall, base.cpu,
        static_cast<long long>(estimated), 1e6 * base.wall / std::max<int64_t>(estimated, 1),
        wall / base.wall, cpu / base.cpu, sink);
  }
  return 0;
}

int main(int argc, char** argv) {
  return sadari::bench::run_main("plan_bench", [&] { return main_bench(argc, argv); });
}
