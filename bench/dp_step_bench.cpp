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
//   dp step   the real dp (x ep) step: the same micro-batches per rank, then
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

#include "bench/bench_util.h"
#include "apps/command_line.h"
#include "comm/mpi_environment.h"
#include "comm/process_groups.h"
#include "comm/self_communicator.h"
#include "core/config_load.h"
#include "core/error.h"
#include "data/dataset.h"
#include "model/transformer.h"
#include "optim/lr_schedule.h"
#include "parallel/distributed_optimizer.h"
#include "parallel/expert_parallel_dispatcher.h"

#ifndef SADARI_SOURCE_DIR
#define SADARI_SOURCE_DIR "."
#endif

namespace sadari {
namespace {

using bench::Clock;
using bench::median;
constexpr auto since = bench::seconds_since;


// Seconds of each part of one step.
struct StepTimes {
  double compute = 0, wait = 0, stats = 0, reduce = 0, optimizer = 0;
  // The step on the critical path (wait is reported, not counted: it overlaps
  // the slowest rank's compute).
  double total() const { return compute + stats + reduce + optimizer; }
};

// One training step as the trainer runs it, over `groups` (size-1 groups for
// the baseline), timing its parts.
StepTimes timed_step(const Config& cfg, int64_t step, const WindowSampler& sampler,
                     Transformer<float>& model, typename Transformer<float>::Cache& cache,
                     DistributedOptimizer& opt, ProcessGroups& groups, int64_t first_sample,
                     int64_t sequences) {
  const int64_t seq = cfg.train.seq_len, micro = cfg.train.micro_batch;
  const int64_t global = cfg.train.global_batch;
  std::vector<int32_t> inputs(static_cast<size_t>(micro * seq)), targets(inputs.size());
  StepTimes t;
  auto start = Clock::now();
  model.params().zero_grad();
  double sums[2] = {0, 0};
  std::vector<int64_t> counts;
  for (int64_t first = first_sample; first < first_sample + sequences; first += micro) {
    sampler.fill(first, micro, inputs.data(), targets.data());
    const ForwardResult r = model.forward(inputs.data(), targets.data(), micro, seq, cache);
    model.backward(cache, 1.0f / static_cast<float>(global * seq),
                   static_cast<float>(micro) / static_cast<float>(global));
    sums[0] += r.ce_sum;
    sums[1] += static_cast<double>(r.tokens);
    const auto layer_counts = model.expert_counts(cache);
    std::vector<int64_t> flat;
    for (const auto& l : layer_counts) flat.insert(flat.end(), l.begin(), l.end());
    if (counts.empty()) counts.assign(flat.size(), 0);
    for (size_t i = 0; i < flat.size(); ++i) counts[i] += flat[i];
  }
  t.compute = since(start);
  // Waiting for the slowest rank's compute, kept out of the communication parts.
  start = Clock::now();
  groups.dp->barrier();
  t.wait = since(start);
  start = Clock::now();
  groups.dp->all_reduce(sums, 2, ReduceOp::sum);
  groups.dp->all_reduce(counts.data(), static_cast<int64_t>(counts.size()), ReduceOp::sum);
  t.stats = since(start);
  start = Clock::now();
  opt.reduce_gradients();
  t.reduce = since(start);
  start = Clock::now();
  opt.update(learning_rate(cfg.optim, step, cfg.train.steps));
  t.optimizer = since(start);
  return t;
}

int run(int argc, char** argv) {
  MpiEnvironment mpi(&argc, &argv);
  Communicator& world = mpi.world();
  const std::vector<OptionSpec> specs = {
      {"config", true, false, "config file (default configs/tiny-moe.yaml)"},
      {"steps", true, false, "timed steps per phase (default 10)"},
      {"warmup", true, false, "untimed steps first (default 3)"},
      {"set", true, true, "override a config key (repeatable)"},
      {"help", false, false, "this text"},
  };
  const ParsedArgs a =
      parse_args("dp_step_bench", std::vector<std::string>(argv + 1, argv + argc), specs);
  if (a.has("help")) {
    if (world.rank() == 0)
      std::printf("usage: mpirun -np N dp_step_bench [options]\n%s",
                  describe_options(specs).c_str());
    return 0;
  }
  std::vector<std::string> overrides = a.all("set");
  overrides.push_back("parallel.dp=" + std::to_string(world.size()));
  const Config cfg = load_config(
      a.value("config", std::string(SADARI_SOURCE_DIR) + "/configs/tiny-moe.yaml"), overrides);
  const int steps = std::stoi(a.value("steps", "10")), warmup = std::stoi(a.value("warmup", "3"));
  if (cfg.train.threads > 0) omp_set_num_threads(static_cast<int>(cfg.train.threads));

  DatasetOptions data_options;
  data_options.seq_len = cfg.train.seq_len;
  data_options.vocab_size = cfg.model.vocab_size;
  const Dataset data = Dataset::build(cfg.data, data_options);
  const WindowSampler sampler = data.train_sampler(cfg.train.seed);
  const int P = world.size(), ep = static_cast<int>(cfg.parallel.ep);
  const int64_t per_rank = cfg.train.global_batch / P;

  // Slowest rank's times, per step.
  auto run_phase = [&](Transformer<float>& model, DistributedOptimizer& opt, ProcessGroups& groups,
                       int64_t first_of_rank) {
    std::vector<StepTimes> out;
    typename Transformer<float>::Cache cache;  // reused: steady-state steps allocate nothing
    for (int s = 0; s < warmup + steps; ++s) {
      world.barrier();
      StepTimes t = timed_step(cfg, s, sampler, model, cache, opt, groups,
                               s * cfg.train.global_batch + first_of_rank, per_rank);
      // The critical path: the parts of the rank whose compute took longest (its
      // wait is ~0); `wait` reports the imbalance, the longest wait of any rank.
      double parts[5] = {t.compute, t.wait, t.stats, t.reduce, t.optimizer};
      std::vector<double> all(static_cast<size_t>(5 * world.size()));
      world.all_gather(parts, all.data(), 5, DType::f64);
      int slowest = 0;
      double longest_wait = 0;
      for (int r = 0; r < world.size(); ++r) {
        if (all[5 * r] > all[5 * slowest]) slowest = r;
        longest_wait = std::max(longest_wait, all[5 * r + 1]);
      }
      const double* c = all.data() + 5 * slowest;
      if (s >= warmup) out.push_back(StepTimes{c[0], longest_wait, c[2], c[3], c[4]});
    }
    return out;
  };

  // Baseline: one process's step over this rank's share, every rank at once.
  std::vector<StepTimes> base;
  {
    SelfCommunicator self;
    ProcessGroups solo = make_process_groups(self, ParallelLayout{1, 1, 1});
    Transformer<float> model(cfg.model, cfg.train.seed);
    ParallelConfig solo_parallel = cfg.parallel;
    solo_parallel.dp = solo_parallel.ep = 1;
    DistributedOptimizer opt(cfg.optim, solo_parallel, model.params(), solo);
    base = run_phase(model, opt, solo, world.rank() * per_rank);
  }
  // The dp (x ep) step.
  std::vector<StepTimes> dp;
  int64_t reduced_bytes = 0;
  {
    ProcessGroups groups = make_process_groups(world, ParallelLayout{1, P, ep});
    std::unique_ptr<ExpertParallelDispatcher<float>> dispatcher;
    if (ep > 1)
      dispatcher = std::make_unique<ExpertParallelDispatcher<float>>(
          *groups.ep, ExpertPlacement::identity(cfg.model.experts, ep), cfg.parallel);
    Transformer<float> model(cfg.model, cfg.train.seed, dispatcher.get());
    DistributedOptimizer opt(cfg.optim, cfg.parallel, model.params(), groups);
    reduced_bytes = opt.reduced_elements() * 4;
    dp = run_phase(model, opt, groups, groups.coords.dp * per_rank);
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
  try {
    return sadari::run(argc, argv);
  } catch (const sadari::Error& e) {
    std::fprintf(stderr, "dp_step_bench: error: %s\n", e.what());
    return 1;
  }
}
