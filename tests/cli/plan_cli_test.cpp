// `sadari plan` and the two ways a plan reaches `sadari train`: a human table with
// breakdowns and "why the winner wins", --json that parses, --output that `sadari
// train --plan` accepts (and rejects when model or world size differ), `parallel:
// auto` training tiny-moe in one process, and the bad-input cases: no plan fits,
// a bad --layout, a missing cluster file.
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <sstream>

#include "cli_test_util.h"

namespace sadari::testing {
namespace {

const std::string kDeepSeek = source_file("configs/models/deepseek-v3.yaml");
const std::string kH800 = source_file("configs/clusters/h800-2048.yaml");
const std::string kTiny = source_file("configs/tiny-moe.yaml");
const std::string kCpuBox = source_file("configs/clusters/cpu-box.yaml");

// A plan of `model` for one process of the cpu box with the small-run workload
// (cli_test_util.h: global batch 4, seq_len 32), written to `file`.
std::vector<std::string> cpu_plan_args(const std::string& model, const std::string& file, int gpus = 1) {
  return {"plan",          model, kCpuBox, "--gpus", std::to_string(gpus), "--global-batch", "4",
          "--seq-len",     "32",  "--no-recompute", "--output", file};
}

TEST_F(CliTest, PlanPrintsTopLayoutsBreakdownsAndWhyNextToDeepSeeksLayout) {
  const CliResult r = sadari({"plan", kDeepSeek, kH800, "--top", "3", "--layout", "deepseek-v3"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.err, "");
  const std::string& out = r.out;
  for (const char* part : {"deepseek-v3 (671G parameters", "2048 x H800 SXM, 80 GB each",
                           "4096 sequences x 4096 tokens", "\n#1 ", "\n#3 ", "\ndeepseek-v3 pp16 dp128 ep64 mb1x32 dualpipe zero1",
                           "memory per GPU (GB)", "optimizer states", "time per step (s)", "bubble",
                           "exposed comm", "MFU", "tokens/s", "GPU-h/1T", "GPU-hours per", " wins: it is the fastest of ",
                           "Against the runner-up (", "Against deepseek-v3 (pp16 dp128 ep64"})
    EXPECT_NE(out.find(part), std::string::npos) << "missing '" << part << "' in:\n" << out;
  EXPECT_EQ(out.find("\n#4 "), std::string::npos) << out;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) EXPECT_LE(line.size(), 120u) << line;
}

TEST_F(CliTest, PlanJsonParsesAndListsPlansFastestFirst) {
  const CliResult r = sadari({"plan", kDeepSeek, kH800, "--top", "4", "--layout", "deepseek-v3", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << "not one JSON line";
  const YAML::Node j = YAML::Load(r.out);
  EXPECT_EQ(j["model_name"].as<std::string>(), "deepseek-v3");
  EXPECT_EQ(j["cluster_name"].as<std::string>(), "h800-2048");
  EXPECT_EQ(j["world_size"].as<int>(), 2048);
  ASSERT_EQ(j["plans"].size(), 4u);
  double previous = 0;
  for (const auto& p : j["plans"]) {
    EXPECT_TRUE(p["fits"].as<bool>());
    EXPECT_LE(p["memory"]["total"].as<double>(), 80e9);
    EXPECT_EQ(p["layout"]["pp"].as<int>() * p["layout"]["dp"].as<int>(), 2048);
    EXPECT_GE(p["time"]["step"].as<double>(), previous);
    previous = p["time"]["step"].as<double>();
    EXPECT_GT(p["mfu"].as<double>(), 0);
  }
  EXPECT_EQ(j["named_layout"].as<std::string>(), "deepseek-v3");
  EXPECT_EQ(j["named"]["layout"]["pp"].as<int>(), 16);
  EXPECT_EQ(j["named"]["layout"]["ep"].as<int>(), 64);
  EXPECT_EQ(j["named"]["layout"]["schedule"].as<std::string>(), "dualpipe");
  EXPECT_NE(j["why"].as<std::string>().find("Against deepseek-v3"), std::string::npos);
  EXPECT_GT(j["layouts_enumerated"].as<int>(), j["layouts_fitting"].as<int>());
}

TEST_F(CliTest, PlanOutputIsAcceptedByTrainPlan) {
  const std::string file = path("tiny.plan.txtpb");
  const CliResult p = sadari(cpu_plan_args(kTiny, file));
  ASSERT_EQ(p.exit_code, 0) << p.describe();
  EXPECT_NE(p.out.find("wrote the winner to " + file), std::string::npos) << p.out;
  const std::string text = read(file);
  EXPECT_EQ(text.rfind("# sadari plan", 0), 0u) << text;
  EXPECT_NE(text.find("model_name: \"tiny-moe\""), std::string::npos) << text;

  const CliResult t = train(kTiny, {"--plan", file});
  ASSERT_EQ(t.exit_code, 0) << t.describe();
  EXPECT_NE(t.out.find("plan " + file + ": pp1 dp1 ep1 mb"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("final validation loss"), std::string::npos) << t.out;
  // The run records the applied layout.
  const std::string config = read(run_dir() + "/config.yaml");
  EXPECT_NE(config.find("auto_plan: false"), std::string::npos) << config;
}

TEST_F(CliTest, TrainRejectsAPlanForAnotherModelOrWorldSize) {
  const std::string two = path("two.plan.txtpb");
  ASSERT_EQ(sadari(cpu_plan_args(kTiny, two, 2)).exit_code, 0);
  expect_error(train(kTiny, {"--plan", two}), 1, {two, "the plan is for 2 processes", "this job has 1", "mpirun -np 2"});
  expect_no_run_output();

  const std::string other = path("small.plan.txtpb");
  ASSERT_EQ(sadari(cpu_plan_args(source_file("configs/small-moe.yaml"), other)).exit_code, 0);
  expect_error(train(kTiny, {"--plan", other}), 1, {other, "model 'small-moe'", "trains 'tiny-moe'"});

  expect_error(train(kTiny, {"--plan", path("missing.plan.txtpb")}), 1, {"plan file not found"});
}

TEST_F(CliTest, ParallelAutoTrainsTinyMoeInOneProcess) {
  // The scalar form in a file.
  write("auto.yaml", "model:\n  name: tiny-moe\nparallel: auto\n");
  const CliResult r = train(path("auto.yaml"), {"--set", "parallel.cluster=" + kCpuBox});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.out.find("parallel: auto chose pp1 dp1 ep1 mb"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("for 1 process on cpu-box"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("final validation loss"), std::string::npos) << r.out;
  const std::string config = read(run_dir() + "/config.yaml");
  EXPECT_NE(config.find("auto_plan: false"), std::string::npos) << config;

  // --set parallel=auto is the same switch; `sadari config` shows it.
  const CliResult c = sadari({"config", kTiny, "--set", "parallel=auto"});
  ASSERT_EQ(c.exit_code, 0) << c.describe();
  EXPECT_NE(c.out.find("auto_plan: true"), std::string::npos) << c.out;

}

TEST_F(CliTest, ParallelAutoNamesAMissingClusterFile) {
  expect_error(train(kTiny, {"--set", "parallel=auto", "--set", "parallel.cluster=" + path("none.yaml")}), 1,
               {"parallel.cluster", "none.yaml"});
  expect_no_run_output();
}

TEST_F(CliTest, PlanSaysNoPlanFitsOnAClusterTooSmall) {
  // DeepSeek-V3 on one node of 8 H800.
  std::string cluster = read(kH800);
  const size_t at = cluster.find("\nnodes: 256");
  ASSERT_NE(at, std::string::npos);
  cluster.replace(at, 11, "\nnodes: 1");
  write("one-node.yaml", cluster);
  const std::string out = path("never.plan.txtpb");
  expect_error(sadari({"plan", kDeepSeek, path("one-node.yaml"), "--global-batch", "64", "--output", out}), 1,
               {"no plan fits", "the closest", "GB over", "deepseek-v3 on h800-2048 (8 GPUs)"});
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST_F(CliTest, PlanRejectsBadLayoutsAndArguments) {
  expect_error(sadari({"plan", kTiny, kCpuBox, "--layout", "pp=2,tp=2"}), 1, {"--layout", "unknown layout key 'tp'"});
  expect_error(sadari({"plan", kTiny, kCpuBox, "--layout", "pp=2,ep=3"}), 1, {"--layout", "cannot run tiny-moe"});
  expect_error(sadari({"plan", kTiny}), 2, {"expected MODEL and CLUSTER"});
  expect_error(sadari({"plan", kTiny, kCpuBox, "--gpus", "3"}), 2, {"--gpus"});
  expect_error(sadari({"plan", kTiny, path("nope.yaml")}), 1, {"nope.yaml"});
  const CliResult h = sadari({"plan", "--help"});
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.out.find("usage: sadari plan MODEL CLUSTER"), std::string::npos) << h.out;
}

}  // namespace
}  // namespace sadari::testing
