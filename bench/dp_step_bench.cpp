// dp_step_bench: what data parallelism costs per training step.
//
// Run under mpirun with N ranks (dp = N; ep from --set parallel.ep):
//   mpirun -np 2 build/bench/dp_step_bench [--config FILE] [--steps N] [--warmup N]
//                                          [--set key=value]...
// Two measurements in the same run, on the same ranks:
//   baseline  every rank runs, at the same time, a ONE-PROCESS training step
//             (no communication at all) over the per-rank work of the dp step:
//             global_batch / N sequences in micro-batches of train.micro_batch,
//             the optimizer over the whole model;
//   dp step   the real dp (x ep) step (parallel/training_step.h, as `sadari
//             train` runs it): the same micro-batches per rank, then
//             loss/count all-reduce, bucketed gradient reduction and the
//             optimizer (ZeRO-1 shard update + all-gather, or replicated AdamW
//             for zero_stage 0).
// Each phase's time per step is the critical path: the parts of the rank whose
// compute took longest; medians over --steps steps after --warmup. The report gives the ratio
// dp/baseline and splits the dp step into compute (forward + backward; includes the token
// all-to-all when ep > 1), waiting for the slowest rank (a barrier), stats (loss and expert-count
// all-reduce), gradient reduction (with the bytes reduced per rank and the resulting bus bandwidth,
// nccl-tests convention: algbw x 2(N-1)/N) and optimizer (norm all-reduce,
// clipping, update, all-gather). Nothing passes or fails.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_cli.h"
#include "bench/bench_util.h"
#include "comm/mpi_environment.h"
#include "comm/process_groups.h"
#include "comm/self_communicator.h"
#include "core/config_load.h"
#include "core/error.h"
#include "data/dataset.h"
#include "kernels/gemm_backend.h"
#include "optim/lr_schedule.h"
#include "parallel/expert_setup.h"
#include "parallel/training_step.h"

#ifndef SADARI_SOURCE_DIR
#define SADARI_SOURCE_DIR "."
#endif

namespace sadari {
namespace {

using bench::median;


// Seconds of each part of one step, on the rank on the critical path.
struct StepTimes {
  double compute = 0, wait = 0, stats = 0, reduce = 0, optimizer = 0;
  // The step on the critical path (wait is reported, not counted: it overlaps
  // the slowest rank's compute).
  double total() const { return compute + stats + reduce + optimizer; }
};

int run(int argc, char** argv) {
  MpiEnvironment mpi(&argc, &argv);
  Communicator& world = mpi.world();
  const bench::Args a("dp_step_bench", argc, argv,
                      {{"config", true, false, "config file (default configs/tiny-moe.yaml)"},
                       {"steps", true, false, "timed steps per phase (default 10)"},
                       {"warmup", true, false, "untimed steps first (default 3)"},
                       {"set", true, true, "override a config key (repeatable)"}});
  if (a.help("usage: mpirun -np N dp_step_bench [options]", world.rank() == 0)) return 0;
  std::vector<std::string> overrides = a.all("set");
  overrides.push_back("parallel.dp=" + std::to_string(world.size()));
  const std::string config_path =
      a.text("config", std::string(SADARI_SOURCE_DIR) + "/configs/tiny-moe.yaml");
  const Config cfg = load_config(config_path, overrides);
  const int64_t steps = a.integer("steps", 10, 1), warmup = a.integer("warmup", 3, 0);
  if (cfg.train.threads > 0) omp_set_num_threads(static_cast<int>(cfg.train.threads));

  DatasetOptions data_options;
  data_options.seq_len = cfg.train.seq_len;
  data_options.vocab_size = cfg.model.vocab_size;
  const Dataset data = Dataset::build(cfg.data, data_options);
  const WindowSampler sampler = data.train_sampler(cfg.train.seed);
  const int P = world.size(), ep = static_cast<int>(cfg.parallel.ep);
  const int64_t per_rank = cfg.train.global_batch / P;

  // Slowest rank's times, per step: TrainingStep's own timing of its parts
  // (parallel/training_step.h), taken on the rank whose compute took longest.
  // The other ranks' statistics part starts by waiting for it: their longest
  // excess over the slowest rank's is the reported wait.
  int64_t reduced_bytes = 0;
  auto run_phase = [&](const Config& phase_cfg, ProcessGroups& groups, int64_t first_of_rank) {
    const std::unique_ptr<ExpertSetup> experts = make_expert_setup(phase_cfg, groups);
    TrainingStep training(phase_cfg, groups, *experts);
    reduced_bytes = training.optimizer().reduced_elements() * 4;
    const int64_t micro = phase_cfg.train.micro_batch;
    std::vector<StepTimes> out;
    for (int64_t s = 0; s < warmup + steps; ++s) {
      world.barrier();
      const int64_t first = s * cfg.train.global_batch + first_of_rank;
      const StepStats st = training.run(
          learning_rate(cfg.optim, s, cfg.train.steps), [&](int m, int32_t* ids, int32_t* targets) {
            sampler.fill(first + m * micro, micro, ids, targets);
          });
      const StepSeconds& t = st.seconds;
      double parts[4] = {t.compute, t.statistics, t.gradient_reduction, t.optimizer};
      std::vector<double> all(static_cast<size_t>(4 * world.size()));
      world.all_gather(parts, all.data(), 4, DType::f64);
      int slowest = 0;
      for (int r = 0; r < world.size(); ++r)
        if (all[4 * r] > all[4 * slowest]) slowest = r;
      const double* c = all.data() + 4 * slowest;
      double longest_wait = 0;
      for (int r = 0; r < world.size(); ++r)
        longest_wait = std::max(longest_wait, all[4 * r + 1] - c[1]);
      if (s >= warmup) out.push_back(StepTimes{c[0], longest_wait, c[1], c[2], c[3]});
    }
    return out;
  };

  // Baseline: one process's step over this rank's share, every rank at once:
  // the same config with one rank's batch and no parallelism.
  std::vector<StepTimes> base;
  {
    SelfCommunicator self;
    ProcessGroups solo = make_process_groups(self, ParallelLayout{1, 1, 1});
    std::vector<std::string> solo_overrides = a.all("set");
    for (const char* s : {"parallel.dp=1", "parallel.ep=1"}) solo_overrides.push_back(s);
    solo_overrides.push_back("train.global_batch=" + std::to_string(per_rank));
    const Config solo_cfg = load_config(config_path, solo_overrides);
    base = run_phase(solo_cfg, solo, world.rank() * per_rank);
  }
  // The dp (x ep) step.
  std::vector<StepTimes> dp;
  {
    ProcessGroups groups = make_process_groups(world, ParallelLayout{1, P, ep});
    dp = run_phase(cfg, groups, groups.coords.dp * per_rank);
  }

  if (world.rank() == 0) {
    auto med = [](const std::vector<StepTimes>& v, double StepTimes::*part) {
      std::vector<double> x;
      for (const auto& t : v) x.push_back(part ? t.*part : t.total());
      return median(x);
    };
    const double b = med(base, nullptr), d = med(dp, nullptr);
    const double reduce = med(dp, &StepTimes::reduce);
    std::printf(
        "dp_step_bench: %s, %d ranks (dp %d, ep %d, zero_stage %lld), %lld sequences of %lld "
        "per rank per step in micro-batches of %lld, %d OpenMP threads per rank, "
        "OMP_WAIT_POLICY=%s\n",
        cfg.model.name.c_str(), P, P, ep, static_cast<long long>(cfg.parallel.zero_stage),
        static_cast<long long>(per_rank), static_cast<long long>(cfg.train.seq_len),
        static_cast<long long>(cfg.train.micro_batch), omp_get_max_threads(),
        std::getenv("OMP_WAIT_POLICY") ? std::getenv("OMP_WAIT_POLICY") : "(unset)");
    std::printf(
        "  one-process step, same per-rank work: %8.2f ms  (compute %.2f, optimizer %.2f)\n",
        b * 1e3, med(base, &StepTimes::compute) * 1e3, med(base, &StepTimes::optimizer) * 1e3);
    std::printf("  dp step:                              %8.2f ms  ratio %.3f\n", d * 1e3, d / b);
    std::printf("    compute (forward + backward%s)%s %8.2f ms\n", ep > 1 ? " + all-to-all" : "",
                ep > 1 ? "" : "    ", med(dp, &StepTimes::compute) * 1e3);
    std::printf("    (other ranks waiting for it, max   %8.2f ms: load imbalance, not counted)\n",
                med(dp, &StepTimes::wait) * 1e3);
    std::printf("    loss / expert-count all-reduce     %8.2f ms\n",
                med(dp, &StepTimes::stats) * 1e3);
    std::printf(
        "    gradient reduction                 %8.2f ms  (%.2f MB per rank, busbw %.2f GB/s)\n",
        reduce * 1e3, reduced_bytes / 1e6,
        reduce > 0 ? reduced_bytes * 2.0 * (P - 1) / P / reduce / 1e9 : 0.0);
    std::printf("    optimizer (norm, update, gather)   %8.2f ms\n",
                med(dp, &StepTimes::optimizer) * 1e3);
  }
  return 0;
}

}  // namespace
}  // namespace sadari

int main(int argc, char** argv) {
  sadari::select_gemm_kernel(argv);  // first: may restart the process
  return sadari::bench::run_main("dp_step_bench", [&] { return sadari::run(argc, argv); });
}
