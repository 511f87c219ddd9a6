// load_cluster (parallel/planner/cluster.h): the shipped cluster files load with
// their stated figures, and every kind of bad input is rejected with "file:line
// key" (missing key, unknown key with a suggestion, wrong type, out of range,
// malformed YAML, missing file).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"
#include "parallel/planner/cluster.h"

namespace sadari {
namespace {

std::string source(const std::string& rel) { return std::string(SADARI_SOURCE_DIR) + "/" + rel; }

// Writes `text` to a fresh file and returns its path.
std::string write_temp(const std::string& name, const std::string& text) {
  const auto dir = std::filesystem::temp_directory_path() / ("sadari_cluster_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / name).string();
  std::ofstream(path) << text;
  return path;
}

const char* kGood = R"(name: test
nodes: 2
gpus_per_node: 8
gpu:
  model: H100 SXM
  kind: gpu
  bf16_tflops: 989
  fp8_tflops: 1979
  memory_gb: 80
  memory_bandwidth_gbs: 3350
intra_node:
  bandwidth_gbs: 450
  latency_us: 3
inter_node:
  bandwidth_gbs: 50
  latency_us: 8
efficiency:
  gemm: 0.5
runtime_overhead_gb: 2
)";

std::string error_of(const std::string& path) {
  try {
    load_cluster(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return s.replace(at, from.size(), to);
}

TEST(Cluster, ShippedFilesLoad) {
  const ClusterSpec h800 = load_cluster(source("configs/clusters/h800-2048.yaml"));
  EXPECT_EQ(h800.gpus(), 2048);
  EXPECT_EQ(h800.gpus_per_node, 8);
  EXPECT_EQ(h800.gpu.memory_gb, 80);
  EXPECT_EQ(h800.gpu.fp8_tflops, 1979);
  // DeepSeek's figures: NVLink 160 GB/s and IB 50 GB/s achievable -> nominal x efficiency.
  EXPECT_DOUBLE_EQ(h800.intra_node.bandwidth_gbs * h800.efficiency.network, 160);
  EXPECT_EQ(h800.inter_node.bandwidth_gbs, 50);
  EXPECT_EQ(h800.source_file, source("configs/clusters/h800-2048.yaml"));

  const ClusterSpec h100 = load_cluster(source("configs/clusters/h100-2048.yaml"));
  EXPECT_EQ(h100.intra_node.bandwidth_gbs, 450);
  const ClusterSpec h200 = load_cluster(source("configs/clusters/h200-1024.yaml"));
  EXPECT_EQ(h200.gpu.memory_gb, 141);
  EXPECT_EQ(h200.gpus(), 1024);
  const ClusterSpec cpu = load_cluster(source("configs/clusters/cpu-box.yaml"));
  EXPECT_EQ(cpu.gpu.kind, "cpu");
  EXPECT_EQ(cpu.gpu.fp8_tflops, 0);
  EXPECT_GT(cpu.runtime_overhead_gb, 0);
}

TEST(Cluster, OptionalKeysKeepDefaults) {
  const ClusterSpec c = load_cluster(write_temp("good.yaml", kGood));
  EXPECT_EQ(c.name, "test");
  EXPECT_EQ(c.gpus(), 16);
  EXPECT_EQ(c.efficiency.gemm, 0.5);
  EXPECT_EQ(c.efficiency.attention, EfficiencySpec{}.attention);
  EXPECT_EQ(c.efficiency.network, EfficiencySpec{}.network);
  EXPECT_EQ(c.runtime_overhead_gb, 2);
}

TEST(Cluster, MissingKeyNamesFileLineAndKey) {
  const std::string path = write_temp("missing.yaml", replace(kGood, "  memory_gb: 80\n", ""));
  const std::string err = error_of(path);
  EXPECT_NE(err.find(path + ":4 gpu"), std::string::npos) << err;  // the section's line
  EXPECT_NE(err.find("missing key 'gpu.memory_gb'"), std::string::npos) << err;

  const std::string top = write_temp("missing_top.yaml", replace(kGood, "nodes: 2\n", ""));
  EXPECT_NE(error_of(top).find("missing key 'nodes'"), std::string::npos) << error_of(top);
}

TEST(Cluster, UnknownKeySuggests) {
  const std::string path = write_temp("unknown.yaml", replace(kGood, "memory_gb: 80", "memry_gb: 80"));
  const std::string err = error_of(path);
  EXPECT_NE(err.find(path + ":9 gpu.memry_gb"), std::string::npos) << err;
  EXPECT_NE(err.find("unknown key"), std::string::npos) << err;
  EXPECT_NE(err.find("did you mean 'memory_gb'?"), std::string::npos) << err;

  const std::string sec = write_temp("unknown_section.yaml", replace(kGood, "intra_node:", "intra_nodes:"));
  EXPECT_NE(error_of(sec).find("did you mean 'intra_node'?"), std::string::npos) << error_of(sec);
}

TEST(Cluster, BadValuesNameFileLine) {
  struct Case {
    std::string from, to, where, what;
  };
  const Case cases[] = {
      {"nodes: 2", "nodes: 0", ":2 nodes", "must be >= 1"},
      {"nodes: 2", "nodes: 2.5", ":2 nodes", "expected a whole number"},
      {"bf16_tflops: 989", "bf16_tflops: fast", ":7 gpu.bf16_tflops", "expected a number"},
      {"bf16_tflops: 989", "bf16_tflops: -1", ":7 gpu.bf16_tflops", "must be > 0"},
      {"latency_us: 8", "latency_us: -8", ":16 inter_node.latency_us", "must be >= 0"},
      {"gemm: 0.5", "gemm: 1.5", ":18 efficiency.gemm", "must be in (0, 1]"},
      {"kind: gpu", "kind: gpus", ":6 gpu.kind", "did you mean 'gpu'?"},
      {"bf16_tflops: 989", "bf16_tflops: [1, 2]", ":7 gpu.bf16_tflops", "expected a scalar"},
  };
  for (const Case& c : cases) {
    const std::string path = write_temp("bad.yaml", replace(kGood, c.from, c.to));
    const std::string err = error_of(path);
    EXPECT_NE(err.find(path + c.where), std::string::npos) << c.to << ": " << err;
    EXPECT_NE(err.find(c.what), std::string::npos) << c.to << ": " << err;
  }
}

TEST(Cluster, FileAndSyntaxErrors) {
  EXPECT_NE(error_of("/nonexistent/cluster.yaml").find("/nonexistent/cluster.yaml: cluster file not found"),
            std::string::npos);
  const std::string path = write_temp("malformed.yaml", "name: x\nnodes: [1, 2\n");
  const std::string err = error_of(path);
  EXPECT_NE(err.find("malformed YAML"), std::string::npos) << err;
  EXPECT_NE(err.find(path + ":"), std::string::npos) << err;
  EXPECT_NE(error_of(write_temp("empty.yaml", "")).find("is empty"), std::string::npos);
  EXPECT_NE(error_of(write_temp("list.yaml", "- 1\n")).find("must be a map"), std::string::npos);
}

}  // namespace
}  // namespace sadari
