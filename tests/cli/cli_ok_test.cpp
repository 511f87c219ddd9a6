// `sadari` doing its job: config prints the resolved YAML, train writes its run
// directory and reports the final validation loss, prepare-data reports counts.
#include <sstream>

#include "cli_test_util.h"

namespace sadari::testing {
namespace {

const std::string kTiny = source_file("configs/tiny-moe.yaml");

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

bool has_line(const std::string& text, const std::string& line) {
  for (const auto& l : lines_of(text))
    if (l == line) return true;
  return false;
}

TEST_F(CliTest, ConfigPrintsEverySection) {
  const auto r = sadari({"config", kTiny});
  ASSERT_TRUE(r.exited()) << r.describe();
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.err, "");
  for (const char* section : {"model:", "parallel:", "train:", "optim:", "data:", "checkpoint:", "logging:"})
    EXPECT_TRUE(has_line(r.out, section)) << "no top-level '" << section << "' in:\n" << r.out;
  EXPECT_TRUE(has_line(r.out, "  synthetic:")) << r.out;
  // Values from the file, and a default the file does not set.
  EXPECT_NE(r.out.find("  name: tiny-moe"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  experts: 8"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  beta2: 0.95"), std::string::npos) << r.out;
}

TEST_F(CliTest, ConfigAppliesOverrides) {
  const auto r = sadari({"config", kTiny, "--set", "train.steps=70", "--set=optim.schedule=wsd"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.out.find("  steps: 70 "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  schedule: wsd "), std::string::npos) << r.out;
}

TEST_F(CliTest, ConfigOutputLoadsBack) {
  const auto first = sadari({"config", kTiny, "--set", "model.top_k=3"});
  ASSERT_EQ(first.exit_code, 0) << first.describe();
  write("resolved.yaml", first.out);
  const auto second = sadari({"config", path("resolved.yaml")});
  ASSERT_EQ(second.exit_code, 0) << second.describe();
  EXPECT_EQ(second.out, first.out);
}

TEST_F(CliTest, TrainWritesRunDirectory) {
  const auto r = sadari({"train", kTiny, "--set", "train.steps=3", "--set", "train.eval_every=0", "--set",
                         "optim.warmup_steps=1", "--set", "logging.run_dir=" + run_dir(), "--set",
                         "logging.progress=plain", "--set", "train.global_batch=4", "--set", "train.micro_batch=2",
                         "--set", "train.seq_len=32", "--set", "train.eval_batches=1", "--set", "train.threads=1",
                         "--set", "data.synthetic.tokens=8192"});
  ASSERT_TRUE(r.exited()) << r.describe();
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.out.find("final validation loss"), std::string::npos) << r.describe();
  EXPECT_EQ(r.err.find("error"), std::string::npos) << r.describe();

  // config.yaml is the resolved config, overrides included.
  const std::string config = read(run_dir() + "/config.yaml");
  EXPECT_TRUE(has_line(config, "model:")) << config;
  EXPECT_NE(config.find("  steps: 3 "), std::string::npos) << config;
  EXPECT_FALSE(std::filesystem::exists(run_dir() + "/config.yaml.tmp"));

  // metrics.jsonl: one JSON object per step, steps 1..3, then the final validation.
  const auto lines = lines_of(read(run_dir() + "/metrics.jsonl"));
  std::vector<std::string> step_lines, val_lines;
  for (const auto& l : lines) {
    ASSERT_FALSE(l.empty());
    EXPECT_EQ(l.front(), '{') << l;
    EXPECT_EQ(l.back(), '}') << l;
    (l.find("\"val_loss\"") != std::string::npos ? val_lines : step_lines).push_back(l);
  }
  ASSERT_EQ(step_lines.size(), 3u) << read(run_dir() + "/metrics.jsonl");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(step_lines[i].rfind("{\"step\":" + std::to_string(i + 1) + ",", 0), 0u) << step_lines[i];
    EXPECT_NE(step_lines[i].find("\"loss\":"), std::string::npos) << step_lines[i];
    EXPECT_NE(step_lines[i].find("\"lr\":"), std::string::npos) << step_lines[i];
  }
  ASSERT_EQ(val_lines.size(), 1u) << "eval_every=0 evaluates once, at the end";
  EXPECT_EQ(val_lines[0].rfind("{\"step\":3,", 0), 0u) << val_lines[0];
}

TEST_F(CliTest, PrepareDataReportsCounts) {
  write("a.txt", "hello");
  write("b.txt", "sadari!");
  const auto r = sadari({"prepare-data", "--output", path("out.bin"), path("a.txt"), path("b.txt")});
  ASSERT_TRUE(r.exited()) << r.describe();
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.out.find("2 documents, 12 bytes, 14 tokens"), std::string::npos) << r.out;
  // 32-byte header + 14 u16 tokens.
  EXPECT_EQ(std::filesystem::file_size(path("out.bin")), 32u + 14u * 2u);
  EXPECT_FALSE(std::filesystem::exists(path("out.bin.tmp")));
}

TEST_F(CliTest, VersionAndHelpExitZero) {
  const auto v = sadari({"version"});
  EXPECT_EQ(v.exit_code, 0) << v.describe();
  EXPECT_EQ(v.out.rfind("sadari ", 0), 0u) << v.out;
  for (const char* command : {"train", "config", "prepare-data"}) {
    const auto h = sadari({command, "--help"});
    EXPECT_EQ(h.exit_code, 0) << h.describe();
    EXPECT_NE(h.out.find(std::string("usage: sadari ") + command), std::string::npos) << h.out;
  }
}

}  // namespace
}  // namespace sadari::testing
