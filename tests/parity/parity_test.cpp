// Parity: `mpirun -np N sadari train` in a data/expert-parallel layout computes the
// one-process run step for step. The central correctness test of distributed
// training (design brief, "Parallel conventions").
//
// Each test trains tiny-moe for 30 steps in one layout (same global batch, same
// seed) and compares every step's loss and gradient norm, and the final
// validation loss, read from the run's metrics.jsonl, with a one-process run of
// the same config (`sadari train` started directly: no MPI at all) within 1e-5
// relative. 30 steps cover warm-up, clipping (the early gradient norms exceed
// optim.grad_clip = 1) and many aux-loss-free bias updates, so a wrong scale of
// one gradient group, a norm counted twice or a bias moved from one rank's counts
// shows up as a diverging loss within a few steps.
//
// The bad-input tests check that a layout the job cannot run ends every rank
// with one clear message from rank 0 and a non-zero exit, within a bounded time.
//
// Children run with OMP_NUM_THREADS=1 (up to 4 ranks share 2 cores) and
// SADARI_COMM_TIMEOUT_S=30 (a hang ends with a message, not at ctest's timeout).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/cli/run_cli.h"

namespace sadari {
namespace {

namespace fs = std::filesystem;
using testing::CliResult;
using testing::run_cli;

const std::string kConfig = std::string(SADARI_SOURCE_DIR) + "/configs/tiny-moe.yaml";
constexpr double kTolerance = 1e-5;  // relative, per step (f32 training)
constexpr double kTimeoutS = 120;    // per child job; a hang fails the test, never blocks ctest

// One run's per-step numbers from metrics.jsonl.
struct RunMetrics {
  std::vector<double> loss, grad_norm;
  std::map<int64_t, double> val_loss;  // step -> validation loss
};

// The number after "key": in a flat JSON object line (our own writer's format).
bool json_number(const std::string& line, const std::string& key, double* value) {
  const std::string needle = "\"" + key + "\":";
  const size_t at = line.find(needle);
  if (at == std::string::npos) return false;
  *value = std::strtod(line.c_str() + at + needle.size(), nullptr);
  return true;
}

RunMetrics read_metrics(const fs::path& run_dir) {
  RunMetrics m;
  std::ifstream in(run_dir / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    double v = 0, step = 0;
    if (json_number(line, "val_loss", &v) && json_number(line, "step", &step))
      m.val_loss[static_cast<int64_t>(step)] = v;
    else if (json_number(line, "loss", &v)) {
      m.loss.push_back(v);
      double g = 0;
      json_number(line, "grad_norm", &g);
      m.grad_norm.push_back(g);
    }
  }
  return m;
}

std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> words;
  std::istringstream in(s);
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

int count_of(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

class ParityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ::setenv("OMP_NUM_THREADS", "1", 1);
    ::setenv("OMP_WAIT_POLICY", "passive", 1);
    ::setenv("SADARI_COMM_TIMEOUT_S", "30", 1);
    root_ = fs::path(SADARI_BINARY_DIR) / "parity_runs";
  }
  static void TearDownTestSuite() {
    if (!reference_dir_.empty()) fs::remove_all(reference_dir_);
    delete reference_;
    reference_ = nullptr;
  }

  // The one-process reference, run once per test process (ctest runs each test
  // in its own process, possibly in parallel: hence a directory per process).
  static const RunMetrics& reference() {
    if (!reference_) {
      reference_dir_ = root_ / ("one_process_" + std::to_string(::getpid()));
      fs::remove_all(reference_dir_);
      const CliResult r = run_cli(train_args(reference_dir_, {}), kTimeoutS);
      if (r.exit_code != 0) throw std::runtime_error("one-process run failed: " + r.describe());
      reference_ = new RunMetrics(read_metrics(reference_dir_));
    }
    return *reference_;
  }

  // `sadari train` arguments for tiny-moe, 30 steps, writing into run_dir.
  static std::vector<std::string> train_args(const fs::path& run_dir,
                                             const std::vector<std::string>& sets) {
    std::vector<std::string> args = {SADARI_CLI_PATH, "train", kConfig};
    std::vector<std::string> all = {"train.steps=30", "logging.progress=plain",
                                    "logging.run_dir=" + run_dir.string()};
    all.insert(all.end(), sets.begin(), sets.end());
    for (const auto& s : all) {
      args.push_back("--set");
      args.push_back(s);
    }
    return args;
  }

  static CliResult mpirun(int np, const fs::path& run_dir, const std::vector<std::string>& sets) {
    std::vector<std::string> args = {SADARI_MPIEXEC, "-np", std::to_string(np)};
    for (const auto& f : split_words(SADARI_MPIEXEC_FLAGS)) args.push_back(f);
    for (const auto& a : train_args(run_dir, sets)) args.push_back(a);
    return run_cli(args, kTimeoutS);
  }

  // Trains in a layout and compares it with the one-process run.
  void expect_parity(int np, const std::vector<std::string>& sets) {
    const RunMetrics& want = reference();
    ASSERT_EQ(want.loss.size(), 30u);
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    const fs::path dir = root_ / info->name();
    fs::remove_all(dir);
    const CliResult r = mpirun(np, dir, sets);
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    // Only world rank 0 reports.
    EXPECT_EQ(count_of(r.out, "final validation loss"), 1) << r.out;
    EXPECT_EQ(count_of(r.out, "step 30/30"), 1) << r.out;
    EXPECT_TRUE(fs::exists(dir / "config.yaml"));

    const RunMetrics got = read_metrics(dir);
    ASSERT_EQ(got.loss.size(), want.loss.size());
    double worst = 0;
    for (size_t i = 0; i < want.loss.size(); ++i) {
      const double rel = std::fabs(got.loss[i] - want.loss[i]) / std::fabs(want.loss[i]);
      worst = std::max(worst, rel);
      EXPECT_LE(rel, kTolerance) << "loss at step " << i + 1 << ": " << got.loss[i]
                                 << " vs one process " << want.loss[i];
      EXPECT_LE(std::fabs(got.grad_norm[i] - want.grad_norm[i]),
                kTolerance * std::fabs(want.grad_norm[i]))
          << "gradient norm at step " << i + 1 << ": " << got.grad_norm[i] << " vs one process "
          << want.grad_norm[i];
    }
    ASSERT_EQ(got.val_loss.size(), want.val_loss.size());
    for (const auto& [step, v] : want.val_loss)
      EXPECT_LE(std::fabs(got.val_loss.at(step) - v), kTolerance * v) << "validation at " << step;
    std::printf("  %zu steps, largest relative loss difference %.2e\n", want.loss.size(), worst);
  }

  // A job that must fail: non-zero exit, exactly one error line (rank 0's),
  // naming `expected`.
  void expect_rejected(int np, const std::vector<std::string>& sets, const std::string& expected) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    const fs::path dir = root_ / info->name();
    fs::remove_all(dir);
    const CliResult r = mpirun(np, dir, sets);
    EXPECT_FALSE(r.timed_out) << r.describe();
    EXPECT_NE(r.exit_code, 0) << r.describe();
    EXPECT_EQ(count_of(r.err, "sadari: error:"), 1) << r.describe();
    EXPECT_NE(r.err.find(expected), std::string::npos) << r.describe();
    EXPECT_FALSE(fs::exists(dir / "metrics.jsonl")) << "a rejected run must not start training";
  }

  static fs::path root_, reference_dir_;
  static RunMetrics* reference_;
};

fs::path ParityTest::root_;
fs::path ParityTest::reference_dir_;
RunMetrics* ParityTest::reference_ = nullptr;

TEST_F(ParityTest, DataParallel2) { expect_parity(2, {"parallel.dp=2"}); }

TEST_F(ParityTest, DataParallel2ExpertParallel2) {
  expect_parity(2, {"parallel.dp=2", "parallel.ep=2"});
}

// 16 sequences over 4 ranks: micro-batches of 4 (the reference uses 8; the
// micro-batch split is not part of the math). Validation reads eval_batches
// micro-batches, so 8 of 4 read the reference's 4 of 8 sequences.
TEST_F(ParityTest, DataParallel4ExpertParallel2) {
  expect_parity(4,
                {"parallel.dp=4", "parallel.ep=2", "train.micro_batch=4", "train.eval_batches=8"});
}

TEST_F(ParityTest, DataParallel4ExpertParallel4) {
  expect_parity(4,
                {"parallel.dp=4", "parallel.ep=4", "train.micro_batch=4", "train.eval_batches=8"});
}

// Replicated optimizer state (all-reduce instead of reduce-scatter + all-gather).
TEST_F(ParityTest, DataParallel2ZeroStage0) {
  expect_parity(2, {"parallel.dp=2", "parallel.zero_stage=0"});
}

TEST_F(ParityTest, DataParallel4ExpertParallel2ZeroStage0) {
  expect_parity(4, {"parallel.dp=4", "parallel.ep=2", "train.micro_batch=4", "train.eval_batches=8",
                    "parallel.zero_stage=0"});
}

TEST_F(ParityTest, WorldSizeNotMatchingTheLayoutIsRejected) {
  expect_rejected(2, {"parallel.dp=4", "train.micro_batch=4", "train.eval_batches=8"},
                  "needs 4 processes, but the job has 2");
}

TEST_F(ParityTest, EpNotDividingDpIsRejected) {
  expect_rejected(4,
                  {"parallel.dp=4", "parallel.ep=3", "train.micro_batch=4", "train.eval_batches=8"},
                  "ep (3) does not divide dp (4)");
}

TEST_F(ParityTest, EpNotDividingExpertsIsRejected) {
  expect_rejected(4,
                  {"parallel.dp=4", "parallel.ep=4", "model.experts=6", "train.micro_batch=4",
                   "train.eval_batches=8"},
                  "ep (4) does not divide experts (6)");
}

TEST_F(ParityTest, PipelineParallelismIsRejectedForNow) {
  expect_rejected(2, {"parallel.pp=2"}, "pipeline parallelism comes later");
}

}  // namespace
}  // namespace sadari
