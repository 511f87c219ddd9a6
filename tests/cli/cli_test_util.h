// Shared fixture of the tests in tests/cli/: they run the built `sadari` binary
// as a subprocess, each in a fresh scratch directory, and check what a user sees:
// the exit code, a one-line "sadari: error: ..." on stderr, and that a failed
// command left no output files behind.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include "run_cli.h"

namespace sadari::testing {

inline std::string sadari_binary() { return SADARI_CLI_PATH; }
inline std::string source_file(const std::string& rel) { return std::string(SADARI_SOURCE_DIR) + "/" + rel; }

// Settings that keep a tiny-moe run well under a second on one core: the cases
// that are meant to fail never get this far, the ones that train stay cheap.
inline std::vector<std::string> small_run_overrides() {
  return {"--set", "train.steps=2",        "--set", "train.eval_every=0",  "--set", "optim.warmup_steps=1",
          "--set", "train.global_batch=4", "--set", "train.micro_batch=2", "--set", "train.seq_len=32",
          "--set", "train.eval_batches=1", "--set", "train.threads=1",     "--set", "data.synthetic.tokens=8192",
          "--set", "logging.progress=plain"};
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(sadari_binary())) << "not built: " << sadari_binary();
    std::string pattern = std::string(SADARI_BINARY_DIR) + "/cli-test-XXXXXX";
    char* made = ::mkdtemp(pattern.data());
    if (!made) {
      pattern = "/tmp/sadari-cli-test-XXXXXX";
      made = ::mkdtemp(pattern.data());
    }
    ASSERT_NE(made, nullptr) << "mkdtemp failed";
    dir_ = made;
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }

  // A path inside this test's scratch directory.
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  std::string run_dir() const { return path("run"); }

  void write(const std::string& name, const std::string& bytes) const {
    std::ofstream out(path(name), std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(out.good()) << "cannot write " << path(name);
  }
  std::string read(const std::string& full_path) const {
    std::ifstream in(full_path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  // Runs `sadari args...`.
  CliResult sadari(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{sadari_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_cli(argv, 120);
  }

  // `sadari train CONFIG` with the small-run settings, the run dir in scratch,
  // and `extra` (more --set pairs) last so they win.
  CliResult train(const std::string& config, const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> args{"train", config};
    for (const auto& a : small_run_overrides()) args.push_back(a);
    args.push_back("--set");
    args.push_back("logging.run_dir=" + run_dir());
    args.insert(args.end(), extra.begin(), extra.end());
    return sadari(args);
  }

  // The process exited (no signal, no timeout) with `code`; stderr is exactly one
  // line, "sadari: error: ...", containing every one of `parts`. Returns that line.
  static std::string expect_error(const CliResult& r, int code, std::initializer_list<std::string> parts) {
    EXPECT_FALSE(r.timed_out) << r.describe();
    EXPECT_EQ(r.signal, 0) << "crashed: " << r.describe();
    EXPECT_EQ(r.exit_code, code) << r.describe();
    const std::string& e = r.err;
    EXPECT_TRUE(e.rfind("sadari: error: ", 0) == 0) << "stderr does not start with 'sadari: error: ': " << e;
    EXPECT_FALSE(e.empty()) << "nothing on stderr";
    if (!e.empty()) {
      EXPECT_EQ(e.back(), '\n') << "stderr does not end with a newline: " << e;
      EXPECT_EQ(e.find('\n'), e.size() - 1) << "stderr is not exactly one line:\n" << e;
    }
    for (const auto& p : parts) EXPECT_NE(e.find(p), std::string::npos) << "missing '" << p << "' in: " << e;
    return e;
  }

  // A failed train left nothing a later reader could mistake for a run.
  void expect_no_run_output() const {
    EXPECT_FALSE(std::filesystem::exists(run_dir() + "/config.yaml")) << "config.yaml written by a failed run";
    EXPECT_FALSE(std::filesystem::exists(run_dir() + "/config.yaml.tmp")) << "config.yaml.tmp left behind";
    EXPECT_FALSE(std::filesystem::exists(run_dir() + "/metrics.jsonl")) << "metrics.jsonl written by a failed run";
  }

 private:
  std::string dir_;
};

}  // namespace sadari::testing
