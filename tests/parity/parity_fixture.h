// The machinery of the parity tests (tests/parity/*_test.cpp): run `sadari
// train` on tiny-moe for 30 steps in one process and under `mpirun -np N` in a
// parallel layout, read both runs' metrics.jsonl, and compare every step's loss
// and gradient norm and the validation losses within 1e-5 relative; or expect a
// bad layout to be rejected by rank 0 with one message before any step.
//
// Children run with OMP_NUM_THREADS=1 (up to 4 ranks share 2 cores) and
// SADARI_COMM_TIMEOUT_S=30 (a hang ends with a message, not at ctest's timeout).
// The one-process reference of a set of base overrides is run once per test
// process (ctest runs each test in its own process, possibly in parallel: hence
// a directory per process).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/cli/run_cli.h"

namespace sadari::parity {

namespace fs = std::filesystem;
using testing::CliResult;
using testing::run_cli;

inline const std::string kConfig = std::string(SADARI_SOURCE_DIR) + "/configs/tiny-moe.yaml";
constexpr double kTolerance = 1e-5;  // relative, per step (f32 training)

// Per-run tolerances (relative). Reduced-precision training (bf16, fp8) rounds
// every GEMM operand: a 1e-9 difference in summation order (the dp reduction)
// flips the odd rounding and grows over the steps, so it gets `steps` from the
// first step on while `first_loss` holds the first step's forward to f32's bar.
// The gradient norm, a sum of squares dominated by the noisiest gradients, moves
// most.
struct ParityTolerance {
  double loss = kTolerance;        // every later step's loss; validation losses
  double grad_norm = kTolerance;   // every step's gradient norm
  double first_loss = kTolerance;  // step 1's loss
};
constexpr double kTimeoutS = 120;    // per child job; a hang fails the test, never blocks ctest

// One run's per-step numbers from metrics.jsonl.
struct RunMetrics {
  std::vector<double> loss, grad_norm;
  std::map<int64_t, double> val_loss;  // step -> validation loss
};

// The number after "key": in a flat JSON object line (our own writer's format).
inline bool json_number(const std::string& line, const std::string& key, double* value) {
  const std::string needle = "\"" + key + "\":";
  const size_t at = line.find(needle);
  if (at == std::string::npos) return false;
  *value = std::strtod(line.c_str() + at + needle.size(), nullptr);
  return true;
}

inline RunMetrics read_metrics(const fs::path& run_dir) {
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

inline std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> words;
  std::istringstream in(s);
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

inline int count_of(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

class ParityFixture : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ::setenv("OMP_NUM_THREADS", "1", 1);
    ::setenv("OMP_WAIT_POLICY", "passive", 1);
    ::setenv("SADARI_COMM_TIMEOUT_S", "30", 1);
  }
  static void TearDownTestSuite() {
    for (const auto& [base, run] : references()) fs::remove_all(run.first);
    references().clear();
  }
  static fs::path root() { return fs::path(SADARI_BINARY_DIR) / "parity_runs"; }

  // The one-process run of tiny-moe with the `base` overrides, run once per process.
  static const RunMetrics& reference(const std::vector<std::string>& base) {
    auto& refs = references();
    auto it = refs.find(base);
    if (it == refs.end()) {
      const fs::path dir = root() / ("one_process_" + std::to_string(::getpid()) + "_" +
                                     std::to_string(refs.size()));
      fs::remove_all(dir);
      const CliResult r = run_cli(train_args(dir, base), kTimeoutS);
      if (r.exit_code != 0) throw std::runtime_error("one-process run failed: " + r.describe());
      it = refs.emplace(base, std::make_pair(dir, read_metrics(dir))).first;
    }
    return it->second.second;
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

  // Trains in a layout (base + sets) and compares it with the one-process run
  // of base. `label` names the run directory and the printed line.
  void expect_parity(int np, const std::vector<std::string>& sets,
                     const std::vector<std::string>& base = {}, const std::string& label = "",
                     const ParityTolerance& tol = {}) {
    const RunMetrics& want = reference(base);
    ASSERT_EQ(want.loss.size(), 30u);
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    const fs::path dir = root() / (std::string(info->name()) + label);
    fs::remove_all(dir);
    std::vector<std::string> all = base;
    all.insert(all.end(), sets.begin(), sets.end());
    const CliResult r = mpirun(np, dir, all);
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
      EXPECT_LE(rel, i == 0 ? tol.first_loss : tol.loss)
          << label << " loss at step " << i + 1 << ": " << got.loss[i] << " vs one process "
          << want.loss[i];
      EXPECT_LE(std::fabs(got.grad_norm[i] - want.grad_norm[i]),
                tol.grad_norm * std::fabs(want.grad_norm[i]))
          << label << " gradient norm at step " << i + 1 << ": " << got.grad_norm[i]
          << " vs one process " << want.grad_norm[i];
    }
    ASSERT_EQ(got.val_loss.size(), want.val_loss.size());
    for (const auto& [step, v] : want.val_loss)
      EXPECT_LE(std::fabs(got.val_loss.at(step) - v), tol.loss * v)
          << label << " validation at " << step;
    std::printf("  %s%s%zu steps, largest relative loss difference %.2e\n", label.c_str(),
                label.empty() ? "" : ": ", want.loss.size(), worst);
  }

  // A job that must fail: non-zero exit, exactly one error line (rank 0's),
  // naming `expected`.
  void expect_rejected(int np, const std::vector<std::string>& sets, const std::string& expected) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    const fs::path dir = root() / info->name();
    fs::remove_all(dir);
    const CliResult r = mpirun(np, dir, sets);
    EXPECT_FALSE(r.timed_out) << r.describe();
    EXPECT_NE(r.exit_code, 0) << r.describe();
    EXPECT_EQ(count_of(r.err, "sadari: error:"), 1) << r.describe();
    EXPECT_NE(r.err.find(expected), std::string::npos) << r.describe();
    EXPECT_FALSE(fs::exists(dir / "metrics.jsonl")) << "a rejected run must not start training";
  }

 private:
  using References = std::map<std::vector<std::string>, std::pair<fs::path, RunMetrics>>;
  static References& references() {
    static References refs;
    return refs;
  }
};

}  // namespace sadari::parity
