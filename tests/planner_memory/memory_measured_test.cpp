// The memory model against measurement: `sadari train` runs of tiny-moe and
// small-moe for a few steps, one process and under mpirun at several layouts;
// each run's peak resident memory (the largest process: wait4()'s ru_maxrss of
// the child, which for mpirun covers the ranks it reaped) must be within 20% of
// the cost model's memory.total() for that layout on configs/clusters/cpu-box.yaml.
//
// Every run is one step with train.threads=1 (the calibration of cpu-box's
// runtime_overhead_gb is too: OpenMP and OpenBLAS keep per-thread memory) and
// one evaluation batch, so the file takes about 20 s of CPU time.
//
// Expert load: the model assumes balanced routing (what the aux-loss-free bias
// aims at), i.e. each ep rank receives n x top_k rows. The shipped corpus has
// 16 symbols, so at initialisation a handful of token ids decide the routing and
// one ep rank of small-moe dp2 ep2 received rows enough for a peak 24% above the
// estimate. The runs therefore use a 62-symbol order-1 corpus (same length, same
// memory), whose routing spreads; the residual imbalance shows as the largest
// error of the table (dp2 ep2, about -12%).
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "core/config_load.h"
#include "parallel/planner/cluster.h"
#include "parallel/planner/cost_model.h"

extern char** environ;

namespace sadari {
namespace {

namespace fs = std::filesystem;

std::string source(const std::string& rel) { return std::string(SADARI_SOURCE_DIR) + "/" + rel; }

std::vector<std::string> split_words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

struct Measured {
  int exit_code = -1;
  double peak_rss_bytes = 0;
  std::string log;
};

// Runs argv with stdout and stderr to `log_path`; returns exit code and the
// child's peak resident memory (max over the child and the children it reaped).
Measured run_measured(const std::vector<std::string>& argv, const fs::path& log_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  Measured m;
  if (rc != 0) {
    m.log = "cannot start " + argv[0];
    return m;
  }
  int status = 0;
  rusage usage{};
  while (::wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  m.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  m.peak_rss_bytes = static_cast<double>(usage.ru_maxrss) * 1024.0;  // KiB on Linux
  std::ifstream in(log_path);
  m.log.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return m;
}

struct Case {
  const char* config;
  std::vector<std::string> sets;  // layout overrides
  int np;                         // 1: run directly (no MPI); > 1: under mpiexec
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.config;
  for (const auto& s : c.sets) *os << " --set " << s;
  *os << " (" << c.np << " processes)";
}

Layout layout_of(const Config& cfg) {
  Layout l;
  l.pp = cfg.parallel.pp;
  l.dp = cfg.parallel.dp;
  l.ep = cfg.parallel.ep;
  l.micro_batch = cfg.train.micro_batch;
  l.microbatches = cfg.train.global_batch / (cfg.train.micro_batch * cfg.parallel.dp);
  l.schedule = cfg.parallel.schedule;
  l.chunks = cfg.parallel.chunks;
  l.zero_stage = cfg.parallel.zero_stage;
  return l;
}

class MeasuredMemory : public ::testing::TestWithParam<Case> {};

TEST_P(MeasuredMemory, EstimateWithinTwentyPercentOfPeakRss) {
  const Case& c = GetParam();
  const fs::path dir = fs::temp_directory_path() /
                       ("sadari_memory_test_" + std::to_string(::getpid()) + "_" +
                        std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::vector<std::string> sets = {"train.steps=1", "train.threads=1", "train.eval_batches=1",
                                   "optim.warmup_steps=0", "logging.progress=none",
                                   "data.synthetic.symbols=62", "data.synthetic.order=1",
                                   "logging.run_dir=" + (dir / "run").string()};
  sets.insert(sets.end(), c.sets.begin(), c.sets.end());

  std::vector<std::string> argv;
  if (c.np > 1) {
    argv = {SADARI_MPIEXEC, "-np", std::to_string(c.np)};
    for (const auto& f : split_words(SADARI_MPIEXEC_FLAGS)) argv.push_back(f);
  }
  argv.push_back(SADARI_CLI_PATH);
  argv.push_back("train");
  argv.push_back(source(c.config));
  for (const auto& s : sets) {
    argv.push_back("--set");
    argv.push_back(s);
  }
  const Measured m = run_measured(argv, dir / "log.txt");
  ASSERT_EQ(m.exit_code, 0) << m.log;

  const Config cfg = load_config(source(c.config), sets);
  const ClusterSpec cpu = load_cluster(source("configs/clusters/cpu-box.yaml"));
  Workload w;
  w.global_batch = cfg.train.global_batch;
  w.seq_len = cfg.train.seq_len;
  w.precision = cfg.train.precision;
  w.data_bytes = 4.0 * static_cast<double>(cfg.data.synthetic.tokens);  // int32 corpus in every process
  const Layout l = layout_of(cfg);
  ASSERT_EQ(layout_problem(cfg.model, cpu, w, l), "");
  const Estimate e = estimate(cfg.model, cpu, w, l);
  const MemoryBreakdown& mem = e.memory;
  const double ratio = mem.total() / m.peak_rss_bytes;
  std::printf(
      "| %s | %s | %.1f MB | %.1f MB | %+.1f%% | weights %.1f grads %.1f master %.1f moments %.1f "
      "activations %.1f buffers %.1f data %.1f overhead %.1f MB |\n",
      fs::path(c.config).stem().c_str(), l.describe().c_str(), m.peak_rss_bytes / 1e6, mem.total() / 1e6,
      100 * (ratio - 1), mem.weights / 1e6, mem.gradients / 1e6, mem.master_weights / 1e6,
      mem.optimizer_states / 1e6, mem.activations / 1e6, mem.comm_buffers / 1e6, mem.data / 1e6,
      mem.runtime_overhead / 1e6);
  EXPECT_NEAR(ratio, 1.0, 0.2) << "measured " << m.peak_rss_bytes / 1e6 << " MB, estimated "
                               << mem.total() / 1e6 << " MB";
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(
    Runs, MeasuredMemory,
    ::testing::Values(Case{"configs/tiny-moe.yaml", {}, 1},
                      Case{"configs/tiny-moe.yaml", {"parallel.dp=2"}, 2},
                      Case{"configs/tiny-moe.yaml", {"parallel.dp=2", "parallel.ep=2"}, 2},
                      Case{"configs/tiny-moe.yaml", {"parallel.pp=2"}, 2},
                      Case{"configs/tiny-moe.yaml", {"parallel.zero_stage=0"}, 1},
                      Case{"configs/small-moe.yaml", {}, 1},
                      Case{"configs/small-moe.yaml", {"parallel.dp=2"}, 2},
                      Case{"configs/small-moe.yaml", {"parallel.dp=2", "parallel.ep=2"}, 2},
                      Case{"configs/small-moe.yaml", {"parallel.pp=2"}, 2}),
    [](const ::testing::TestParamInfo<Case>& info) {
      std::string name = fs::path(info.param.config).stem().string();
      for (const auto& s : info.param.sets) {
        name += '_';
        name += s.substr(s.find('.') + 1);
      }
      for (char& ch : name)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return name;
    });

}  // namespace
}  // namespace sadari
