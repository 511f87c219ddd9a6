// Reference sequences: the losses, gradient norms and validation losses that
// `sadari train` produced, step by step, at a recorded commit, and a check that
// today's build reproduces them BIT FOR BIT. Refactorings (the compute
// interface, the one training step) must not change a single result; a change
// that is meant to change results re-records the files and says why in its
// commit.
//
// Each case runs `sadari train` (one process, or `mpirun -np 2` for a parallel
// layout) and compares every step of its metrics.jsonl (written with %.17g, so a
// double round-trips exactly) with tests/reference/data/<case>.txt.
//
// Bits depend on the GEMM kernels, so the runs pin OpenBLAS's SkylakeX kernel
// (OPENBLAS_CORETYPE=SKYLAKEX, what the references were recorded with) and the
// cases skip where that kernel cannot run (no AVX-512) or the OpenBLAS version
// differs from the recorded one. Our own code is compiled with -march=native and
// without floating-point contraction (-std=c++20), so it is the same on any
// AVX-512 machine.
//
// Recording: SADARI_RECORD_REFERENCES=1 ctest -R reference. writes the files
// instead of comparing (and the cases then pass with a note).
#include <cblas.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/cli/run_cli.h"

namespace sadari {
namespace {

namespace fs = std::filesystem;
using testing::CliResult;
using testing::run_cli;

constexpr const char* kRecordedOpenBlas = "OpenBLAS 0.3.21";
constexpr const char* kPinnedCore = "SKYLAKEX";
constexpr double kTimeoutS = 600;

const fs::path kSource = SADARI_SOURCE_DIR;
const fs::path kData = kSource / "tests/reference/data";

struct ReferenceRun {
  std::string name;
  std::string config;              // relative to the source tree
  int ranks = 1;                   // 1: sadari train directly; else mpirun -np ranks
  std::vector<std::string> sets;   // --set overrides
};

// gtest prints a case's parameter: its name, not its bytes.
void PrintTo(const ReferenceRun& run, std::ostream* os) { *os << run.name; }

// The metric lines that matter for bit-identity, in a canonical text form:
// "step N loss L grad_norm G aux_loss A" and "val N V", numbers as written.
std::string canonical_metrics(const fs::path& jsonl) {
  std::ifstream in(jsonl);
  std::ostringstream out;
  auto field = [](const std::string& line, const std::string& key) -> std::string {
    const std::string needle = "\"" + key + "\":";
    const size_t at = line.find(needle);
    if (at == std::string::npos) return "";
    const size_t start = at + needle.size();
    const size_t end = line.find_first_of(",}", start);
    return line.substr(start, end - start);
  };
  for (std::string line; std::getline(in, line);) {
    const std::string step = field(line, "step");
    if (!field(line, "val_loss").empty()) {
      out << "val " << step << " " << field(line, "val_loss") << "\n";
    } else if (!field(line, "loss").empty()) {
      out << "step " << step << " loss " << field(line, "loss") << " grad_norm "
          << field(line, "grad_norm") << " aux_loss " << field(line, "aux_loss") << "\n";
    }
  }
  return out.str();
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class ReferenceSequences : public ::testing::TestWithParam<ReferenceRun> {
 protected:
  void SetUp() override {
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
        !__builtin_cpu_supports("avx512dq") || !__builtin_cpu_supports("avx512vl"))
      GTEST_SKIP() << "references were recorded with OpenBLAS's SkylakeX (AVX-512) kernels";
    const std::string config = openblas_get_config();
    if (config.rfind(kRecordedOpenBlas, 0) != 0)
      GTEST_SKIP() << "references were recorded with " << kRecordedOpenBlas << ", this is "
                   << config;
    ::setenv("OPENBLAS_CORETYPE", kPinnedCore, 1);
    ::setenv("OMP_NUM_THREADS", "1", 1);  // results do not depend on it; ctest -j2 shares 2 cores
    ::setenv("OMP_WAIT_POLICY", "passive", 1);
    ::setenv("SADARI_COMM_TIMEOUT_S", "60", 1);
  }
};

TEST_P(ReferenceSequences, AreReproducedBitForBit) {
  const ReferenceRun& run = GetParam();
  const fs::path dir = fs::path(SADARI_BINARY_DIR) / "reference_runs" /
                       (run.name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  std::vector<std::string> args;
  if (run.ranks > 1) {
    args = {SADARI_MPIEXEC, "-np", std::to_string(run.ranks)};
    std::istringstream flags(SADARI_MPIEXEC_FLAGS);
    for (std::string f; flags >> f;) args.push_back(f);
  }
  for (const std::string& a : {std::string(SADARI_CLI_PATH), std::string("train"),
                              (kSource / run.config).string()})
    args.push_back(a);
  std::vector<std::string> sets = {"logging.progress=none", "logging.run_dir=" + dir.string()};
  sets.insert(sets.end(), run.sets.begin(), run.sets.end());
  for (const auto& s : sets) {
    args.push_back("--set");
    args.push_back(s);
  }
  const CliResult r = run_cli(args, kTimeoutS);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const std::string got = canonical_metrics(dir / "metrics.jsonl");
  fs::remove_all(dir);
  ASSERT_FALSE(got.empty()) << "no metrics written";

  const fs::path file = kData / (run.name + ".txt");
  if (const char* record = std::getenv("SADARI_RECORD_REFERENCES"); record && *record == '1') {
    std::ofstream out(file, std::ios::trunc);
    out << got;
    ASSERT_TRUE(out.flush()) << "cannot write " << file;
    std::printf("  recorded %s\n", file.c_str());
    return;
  }
  ASSERT_TRUE(fs::exists(file)) << file << " is missing: record it (see the file header)";
  const std::string want = read_file(file);
  // Line by line, so a failure names the first step that differs.
  std::istringstream want_lines(want), got_lines(got);
  std::string w, g;
  int line = 0;
  while (std::getline(want_lines, w)) {
    ++line;
    ASSERT_TRUE(std::getline(got_lines, g)) << run.name << ": run ended before line " << line;
    ASSERT_EQ(g, w) << run.name << ": first difference at line " << line;
  }
  EXPECT_FALSE(std::getline(got_lines, g)) << run.name << ": run has more lines than the reference";
}

// One-process runs: 50 steps of both shipped configs in every precision, with a
// validation at the end. Multi-rank runs: the parallel layouts on tiny-moe, 30 steps.
const std::vector<std::string> kShort = {"train.steps=50", "train.eval_every=0",
                                         "train.eval_batches=2"};
std::vector<std::string> with(std::vector<std::string> base, const std::vector<std::string>& more) {
  base.insert(base.end(), more.begin(), more.end());
  return base;
}
const std::vector<std::string> kLayout = {"train.steps=30", "train.eval_every=0",
                                          "train.eval_batches=2"};

INSTANTIATE_TEST_SUITE_P(
    Runs, ReferenceSequences,
    ::testing::Values(
        ReferenceRun{"tiny_moe_f32", "configs/tiny-moe.yaml", 1, kShort},
        ReferenceRun{"tiny_moe_bf16", "configs/tiny-moe.yaml", 1,
                     with(kShort, {"train.precision=bf16"})},
        ReferenceRun{"tiny_moe_fp8", "configs/tiny-moe.yaml", 1,
                     with(kShort, {"train.precision=fp8"})},
        ReferenceRun{"small_moe_f32", "configs/small-moe.yaml", 1, kShort},
        ReferenceRun{"small_moe_bf16", "configs/small-moe.yaml", 1,
                     with(kShort, {"train.precision=bf16"})},
        ReferenceRun{"small_moe_fp8", "configs/small-moe.yaml", 1,
                     with(kShort, {"train.precision=fp8"})},
        ReferenceRun{"tiny_moe_dp2_ep2", "configs/tiny-moe.yaml", 2,
                     with(kLayout, {"parallel.dp=2", "parallel.ep=2"})},
        ReferenceRun{"tiny_moe_dp2_zero0", "configs/tiny-moe.yaml", 2,
                     with(kLayout, {"parallel.dp=2", "parallel.zero_stage=0"})},
        ReferenceRun{"tiny_moe_dp2_ep2_fp8", "configs/tiny-moe.yaml", 2,
                     with(kLayout, {"parallel.dp=2", "parallel.ep=2", "train.precision=fp8"})},
        ReferenceRun{"tiny_moe_pp2_1f1b", "configs/tiny-moe.yaml", 2,
                     with(kLayout, {"parallel.pp=2", "parallel.schedule=1f1b"})},
        ReferenceRun{"tiny_moe_pp2_zbh1", "configs/tiny-moe.yaml", 2,
                     with(kLayout, {"parallel.pp=2", "parallel.schedule=zb-h1"})},
        ReferenceRun{"tiny_moe_pp2_dualpipev", "configs/tiny-moe.yaml", 2,
                     with(kLayout, {"parallel.pp=2", "parallel.schedule=dualpipev",
                                    "parallel.chunks=2", "train.micro_batch=4",
                                    "train.eval_batches=8"})},
        ReferenceRun{"tiny_moe_pp2_dualpipe", "configs/tiny-moe.yaml", 2,
                     with(kLayout, {"parallel.pp=2", "parallel.schedule=dualpipe",
                                    "parallel.chunks=2", "train.micro_batch=4",
                                    "train.eval_batches=8"})}),
    [](const ::testing::TestParamInfo<ReferenceRun>& info) { return info.param.name; });

}  // namespace
}  // namespace sadari
