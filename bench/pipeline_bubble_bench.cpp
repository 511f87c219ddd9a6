// pipeline_bubble_bench: the pipeline bubble the CPU runtime actually has, set
// against the one the schedule simulator (parallel/pipeline_simulator.h)
// predicts from per-chunk costs measured in the same run.
//
// Run under mpirun with P ranks (pp = P, dp = ep = 1):
//   mpirun -np 4 build/bench/pipeline_bubble_bench --schedule 1f1b --microbatches 8,16,32
//          [--config FILE] [--steps N] [--warmup N] [--set key=value]...
// For each M in --microbatches (global_batch = M x train.micro_batch):
//   measured   the real executor (parallel/pipeline_executor.h) runs --steps
//              training steps (forward and backward only: the optimizer is not
//              part of the bubble). Per step, from every rank's executor stats,
//                bubble = 1 - sum_r compute_r / (P x max_r step_r)
//              with compute_r the wall time of rank r's compute actions;
//              the median over steps is reported.
//   costs      then every rank times its own chunks in isolation (no messages):
//              forward F, backward_input B, backward_weight W and the full
//              backward, each the median of a few repeats, in thread CPU time
//              (CLOCK_THREAD_CPUTIME_ID: time this thread actually ran, which an
//              oversubscribed box does not inflate) and in wall time. The
//              simulator takes one F, B, W for every chunk: the mean over all
//              (rank, chunk) pairs of the CPU medians. Schedules that run a full
//              backward (1F1B) get B = full - W, so that B + W is what they run.
//   simulated  simulate_schedule(schedule, {F, B, W}, p2p = 0).bubble_fraction;
//              "sim(wall)" the same from the isolated wall-time costs.
// Also printed, as the oversubscription check: "cpu/wall" = the ranks' summed
// thread CPU time over their summed wall time in the measured steps (MPI waits
// spin, so a rank that holds a core the whole step reads ~1.0; lower means the
// ranks were descheduled), and "inflation" = the measured compute wall time
// over the compute the isolated CPU costs predict (1.0: compute ran at full
// speed; above: it shared a core).
// Nothing passes or fails.
#include <omp.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/gemm_backend.h"
#include "bench/bench_cli.h"
#include "bench/bench_util.h"
#include "comm/mpi_environment.h"
#include "comm/process_groups.h"
#include "core/config_load.h"
#include "core/error.h"
#include "data/dataset.h"
#include "parallel/pipeline_executor.h"
#include "parallel/pipeline_generators.h"
#include "parallel/pipeline_simulator.h"
#include "parallel/stage_partition.h"

#ifndef SADARI_SOURCE_DIR
#define SADARI_SOURCE_DIR "."
#endif

namespace sadari {
namespace {

using bench::median;

using Clock = std::chrono::steady_clock;

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

std::vector<int> parse_list(const std::string& text) {
  std::vector<int> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(std::stoi(item));
  if (out.empty())
    fail("no micro-batch counts given", "--microbatches", "give a comma-separated list, e.g. 8,16,32");
  return out;
}

// Thread-CPU and wall seconds of one call, median over `repeats`.
struct Cost {
  double cpu = 0, wall = 0;
};
template <typename Fn>
Cost time_call(int repeats, Fn&& fn) {
  std::vector<double> cpu, wall;
  for (int i = 0; i < repeats; ++i) {
    const double c0 = thread_cpu_seconds();
    const auto w0 = Clock::now();
    fn();
    wall.push_back(std::chrono::duration<double>(Clock::now() - w0).count());
    cpu.push_back(thread_cpu_seconds() - c0);
  }
  return Cost{median(cpu), median(wall)};
}

// F, B (backward_input), W, full backward of one chunk, each as cpu and wall.
struct ChunkCosts {
  Cost forward, backward_input, backward_weight, backward_full;
};

ChunkCosts time_chunk(const TransformerStage<float>& stage, const WindowSampler& sampler,
                      int64_t micro, int64_t seq, int64_t hidden, int repeats) {
  const size_t n = static_cast<size_t>(micro * seq);
  std::vector<int32_t> ids(n), targets(n);
  sampler.fill(0, micro, ids.data(), targets.data());
  // Residual input and output gradient of the scale the model sees.
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(n * static_cast<size_t>(hidden)), dy(x.size());
  for (auto& v : x) v = normal(rng);
  for (auto& v : dy) v = 1e-3f * normal(rng);
  typename TransformerStage<float>::Cache cache;
  const float ce_scale = 1.0f / static_cast<float>(n), aux_scale = 1.0f;
  auto fwd = [&] { stage.forward(ids.data(), x.data(), targets.data(), micro, seq, cache); };
  fwd();
  stage.backward(dy.data(), cache, ce_scale, aux_scale);  // warm the cache's buffers
  ChunkCosts out;
  out.forward = time_call(repeats, fwd);
  // Each backward needs a fresh forward; only the backward is timed.
  std::vector<double> bi_cpu, bi_wall, w_cpu, w_wall, full_cpu, full_wall;
  for (int i = 0; i < repeats; ++i) {
    fwd();
    Cost c = time_call(1, [&] { stage.backward(dy.data(), cache, ce_scale, aux_scale); });
    full_cpu.push_back(c.cpu);
    full_wall.push_back(c.wall);
    fwd();
    c = time_call(1, [&] { stage.backward_input(dy.data(), cache, ce_scale, aux_scale); });
    bi_cpu.push_back(c.cpu);
    bi_wall.push_back(c.wall);
    c = time_call(1, [&] { stage.backward_weight(cache); });
    w_cpu.push_back(c.cpu);
    w_wall.push_back(c.wall);
  }
  out.backward_full = {median(full_cpu), median(full_wall)};
  out.backward_input = {median(bi_cpu), median(bi_wall)};
  out.backward_weight = {median(w_cpu), median(w_wall)};
  return out;
}

bool splits_backward(const PipelineSchedule& schedule) {
  for (int r = 0; r < schedule.ranks(); ++r)
    for (const Action& a : schedule.actions(r))
      if (a.kind == ActionKind::backward_input) return true;
  return false;
}

int run(int argc, char** argv) {
  MpiEnvironment mpi(&argc, &argv);
  Communicator& world = mpi.world();
  const bench::Args a("pipeline_bubble_bench", argc, argv,
                      {{"config", true, false, "config file (default configs/tiny-moe.yaml)"},
                       {"schedule", true, false, "1f1b | dualpipe | ... (default 1f1b)"},
                       {"microbatches", true, false, "comma-separated micro-batch counts (default 8,16,32)"},
                       {"steps", true, false, "timed steps per M (default 10)"},
                       {"warmup", true, false, "untimed steps first (default 2)"},
                       {"repeats", true, false, "repeats of each isolated chunk timing (default 9)"},
                       {"set", true, true, "override a config key (repeatable)"}});
  if (a.help("usage: mpirun -np P pipeline_bubble_bench [options]", world.rank() == 0)) return 0;
  const std::string schedule_name = a.text("schedule", "1f1b");
  const std::vector<int> ms = parse_list(a.text("microbatches", "8,16,32"));
  const int steps = static_cast<int>(a.integer("steps", 10, 1, 1000000));
  const int warmup = static_cast<int>(a.integer("warmup", 2, 0, 1000000));
  const int repeats = static_cast<int>(a.integer("repeats", 9, 1, 1000000));
  const int P = world.size();
  const std::string config_path =
      a.text("config", std::string(SADARI_SOURCE_DIR) + "/configs/tiny-moe.yaml");

  bool header = false;
  for (const int M : ms) {
    std::vector<std::string> overrides = a.all("set");
    overrides.push_back("parallel.pp=" + std::to_string(P));
    overrides.push_back("parallel.dp=1");
    overrides.push_back("parallel.ep=1");
    overrides.push_back("parallel.schedule=" + schedule_name);
    const Config probe = load_config(config_path, overrides);
    overrides.push_back("train.global_batch=" + std::to_string(M * probe.train.micro_batch));
    const Config cfg = load_config(config_path, overrides);
    if (cfg.train.threads > 0) omp_set_num_threads(static_cast<int>(cfg.train.threads));
    const int64_t seq = cfg.train.seq_len, micro = cfg.train.micro_batch;

    DatasetOptions data_options;
    data_options.seq_len = seq;
    data_options.vocab_size = cfg.model.vocab_size;
    const Dataset data = Dataset::build(cfg.data, data_options);
    const WindowSampler sampler = data.train_sampler(cfg.train.seed);

    ScheduleRequest request;
    request.kind = parse_schedule_kind(cfg.parallel.schedule, "parallel.schedule");
    request.ranks = P;
    request.microbatches = M;
    request.chunks_per_rank = static_cast<int>(cfg.parallel.chunks);
    const PipelineSchedule schedule = generate_schedule(request, "--microbatches");
    const std::vector<StageLayers> spans = partition_stages(cfg);
    if (static_cast<int>(spans.size()) != schedule.num_stages())
      fail(detail::cat("the config splits the model into ", spans.size(), " stages, the schedule runs ",
                       schedule.num_stages()),
           "parallel.chunks", "set parallel.chunks to the schedule's chunks per rank");

    ProcessGroups groups = make_process_groups(world, ParallelLayout{P, 1, 1});
    Communicator& pp = *groups.pp;
    ParameterStore params(DType::f32);
    std::vector<std::unique_ptr<TransformerStage<float>>> stages;
    std::vector<TransformerStage<float>*> chunks;
    for (int c = 0; c < schedule.chunks_per_rank(); ++c) {
      const StageLayers& span = spans[static_cast<size_t>(schedule.stage_of(pp.rank(), c))];
      stages.push_back(
          std::make_unique<TransformerStage<float>>(cfg.model, span, params, cfg.train.seed));
      chunks.push_back(stages.back().get());
    }
    PipelineExecutor executor(schedule, pp.rank(), chunks, pp, micro, seq, cfg.model.hidden);
    const float ce_scale = 1.0f / static_cast<float>(cfg.train.global_batch * seq);
    const float aux_scale = static_cast<float>(micro) / static_cast<float>(cfg.train.global_batch);

    // Measured: the executor's own step and compute times, every rank.
    std::vector<double> bubbles, cpu_ratio, compute_sums, makespans;
    for (int s = 0; s < warmup + steps; ++s) {
      params.zero_grad();
      world.barrier();
      const double c0 = thread_cpu_seconds();
      const PipelineStepStats st = executor.run_step(
          [&](int mb, int32_t* ids, int32_t* targets) {
            sampler.fill((s * M + mb) * micro, micro, ids, targets);
          },
          ce_scale, aux_scale);
      const double mine[3] = {st.step_seconds, st.compute_seconds, thread_cpu_seconds() - c0};
      std::vector<double> all(static_cast<size_t>(3 * P));
      world.all_gather(mine, all.data(), 3, DType::f64);
      if (s < warmup) continue;
      double makespan = 0, compute = 0, wall = 0, cpu = 0;
      for (int r = 0; r < P; ++r) {
        makespan = std::max(makespan, all[3 * r]);
        wall += all[3 * r];
        compute += all[3 * r + 1];
        cpu += all[3 * r + 2];
      }
      bubbles.push_back(1.0 - compute / (P * makespan));
      cpu_ratio.push_back(cpu / wall);
      compute_sums.push_back(compute);
      makespans.push_back(makespan);
    }

    // Costs: every rank's chunks in isolation, at the same time.
    world.barrier();
    std::vector<double> mine;  // per chunk: F, B, W, full (cpu), then F, B, W, full (wall)
    for (const auto& stage : stages) {
      const ChunkCosts c = time_chunk(*stage, sampler, micro, seq, cfg.model.hidden, repeats);
      for (const Cost* x : {&c.forward, &c.backward_input, &c.backward_weight, &c.backward_full})
        mine.push_back(x->cpu);
      for (const Cost* x : {&c.forward, &c.backward_input, &c.backward_weight, &c.backward_full})
        mine.push_back(x->wall);
    }
    const int per_rank = static_cast<int>(mine.size());
    std::vector<double> all(static_cast<size_t>(per_rank * P));
    world.all_gather(mine.data(), all.data(), per_rank, DType::f64);
    double mean[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    const int pairs = P * schedule.chunks_per_rank();
    for (int i = 0; i < pairs; ++i)
      for (int k = 0; k < 8; ++k) mean[k] += all[static_cast<size_t>(8 * i + k)] / pairs;

    SimulationCosts costs;
    costs.forward = mean[0];
    costs.backward_weight = mean[2];
    costs.backward_input = splits_backward(schedule) ? mean[1] : mean[3] - mean[2];
    const SimulationResult sim = simulate_schedule(schedule, costs);
    // The same from the isolated WALL costs: on a shared box these carry the same
    // contention as the measured steps, so they are the like-for-like comparison.
    SimulationCosts wall_costs;
    wall_costs.forward = mean[4];
    wall_costs.backward_weight = mean[6];
    wall_costs.backward_input = splits_backward(schedule) ? mean[5] : mean[7] - mean[6];
    const double sim_wall = simulate_schedule(schedule, wall_costs).bubble_fraction;
    // Compute the isolated CPU costs predict for the whole step, all ranks.
    const double predicted_compute = sim.total_compute;

    if (world.rank() == 0) {
      if (!header) {
        std::printf(
            "pipeline_bubble_bench: %s, %lld layers, seq %lld, micro-batch %lld, pp %d, "
            "%d OpenMP threads per rank; medians over %d steps (after %d warm-up)\n",
            cfg.model.name.c_str(), static_cast<long long>(cfg.model.layers),
            static_cast<long long>(seq), static_cast<long long>(micro), P, omp_get_max_threads(),
            steps, warmup);
        std::printf(
            "%-9s %2s %3s | %8s %9s %6s %9s | %9s %7s | %7s %7s %7s %7s (ms cpu) | %7s %7s %7s "
            "(ms wall)\n",
            "schedule", "P", "M", "measured", "simulated", "ratio", "sim(wall)", "cpu/wall", "inflat.", "F",
            "B", "W", "B+W full", "F", "B", "W");
        header = true;
      }
      const double measured = median(bubbles), simulated = sim.bubble_fraction;
      std::printf(
          "%-9s %2d %3d | %8.3f %9.3f %6.2f %9.3f | %9.2f %7.2f | %7.3f %7.3f %7.3f %7.3f          | "
          "%7.3f %7.3f %7.3f\n",
          schedule_name.c_str(), P, M, measured, simulated,
          simulated > 0 ? measured / simulated : 0.0, sim_wall, median(cpu_ratio),
          median(compute_sums) / predicted_compute, mean[0] * 1e3, mean[1] * 1e3, mean[2] * 1e3,
          mean[3] * 1e3, mean[4] * 1e3, mean[5] * 1e3, mean[6] * 1e3);
      std::printf("    makespan %.2f ms measured, %.2f ms simulated\n", median(makespans) * 1e3,
                  sim.makespan * 1e3);
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace
}  // namespace sadari

int main(int argc, char** argv) {
  sadari::select_gemm_kernel(argv);  // first: may restart the process
  return sadari::bench::run_main("pipeline_bubble_bench", [&] { return sadari::run(argc, argv); });
}
