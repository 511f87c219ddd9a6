// The plan artifact (parallel/planner/plan_artifact.h): an Estimate survives
// Plan -> text / JSON / binary -> Plan -> Estimate exactly; files are written in
// the format their name says; malformed or inconsistent files are rejected with
// the file (and line:column for text) and what is wrong.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "core/error.h"
#include "parallel/planner/plan_artifact.h"

namespace sadari {
namespace {

// An Estimate with every field set to a distinct value that needs all digits.
Estimate sample_estimate() {
  Estimate e;
  e.layout.pp = 16;
  e.layout.dp = 128;
  e.layout.ep = 64;
  e.layout.micro_batch = 1;
  e.layout.microbatches = 32;
  e.layout.schedule = "dualpipe";
  e.layout.chunks = 2;
  e.layout.zero_stage = 1;
  e.layout.recompute = true;
  e.memory = {1.0 / 3 * 1e10, 2.5e9, 7e9 + 0.1, 1.2345678901234567e10, 3e10, 1e9, 3e9, 0};
  TimeBreakdown& t = e.time;
  t.compute = 11.0 / 3;
  t.ep_dispatch = 0.1 + 0.2;
  t.ep_combine = 0.7;
  t.dp_sync = 0.25;
  t.pp_transfer = 1e-3;
  t.bubble = 0.9;
  t.exposed_comm = 0.41;
  t.step = t.compute + t.bubble + t.exposed_comm;
  t.ep_bytes_per_token = 123456.5;
  t.ep_inter_node_fraction = 0.875;
  e.fits = true;
  e.memory_overshoot = 0;
  e.tokens_per_s = 1.36e6;
  e.mfu = 0.382;
  e.gpu_hours_per_trillion_tokens = 4.18e5;
  return e;
}

ModelConfig sample_model() {
  ModelConfig m;
  m.name = "deepseek-v3";
  return m;
}

ClusterSpec sample_cluster() {
  ClusterSpec c;
  c.name = "h800-2048";
  c.nodes = 256;
  c.gpu.model = "H800 SXM";
  c.gpu.memory_gb = 80;
  return c;
}

Workload sample_workload() {
  Workload w;
  w.global_batch = 4096;
  w.seq_len = 4096;
  w.precision = "fp8";
  return w;
}

plan::Plan sample_plan() {
  return make_plan(sample_estimate(), sample_model(), sample_cluster(), sample_workload(), "0.1.0 (abc)");
}

void expect_same_estimate(const Estimate& a, const Estimate& b) {
  EXPECT_EQ(a.layout, b.layout);
  EXPECT_EQ(a.memory.weights, b.memory.weights);
  EXPECT_EQ(a.memory.gradients, b.memory.gradients);
  EXPECT_EQ(a.memory.master_weights, b.memory.master_weights);
  EXPECT_EQ(a.memory.optimizer_states, b.memory.optimizer_states);
  EXPECT_EQ(a.memory.activations, b.memory.activations);
  EXPECT_EQ(a.memory.comm_buffers, b.memory.comm_buffers);
  EXPECT_EQ(a.memory.runtime_overhead, b.memory.runtime_overhead);
  EXPECT_EQ(a.memory.data, b.memory.data);
  EXPECT_EQ(a.time.compute, b.time.compute);
  EXPECT_EQ(a.time.ep_dispatch, b.time.ep_dispatch);
  EXPECT_EQ(a.time.ep_combine, b.time.ep_combine);
  EXPECT_EQ(a.time.dp_sync, b.time.dp_sync);
  EXPECT_EQ(a.time.pp_transfer, b.time.pp_transfer);
  EXPECT_EQ(a.time.bubble, b.time.bubble);
  EXPECT_EQ(a.time.exposed_comm, b.time.exposed_comm);
  EXPECT_EQ(a.time.step, b.time.step);
  EXPECT_EQ(a.time.ep_bytes_per_token, b.time.ep_bytes_per_token);
  EXPECT_EQ(a.time.ep_inter_node_fraction, b.time.ep_inter_node_fraction);
  EXPECT_EQ(a.fits, b.fits);
  EXPECT_EQ(a.memory_overshoot, b.memory_overshoot);
  EXPECT_EQ(a.tokens_per_s, b.tokens_per_s);
  EXPECT_EQ(a.mfu, b.mfu);
  EXPECT_EQ(a.gpu_hours_per_trillion_tokens, b.gpu_hours_per_trillion_tokens);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

class PlanFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "sadari-plan-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  void write(const std::string& name, const std::string& bytes) const {
    std::ofstream(path(name), std::ios::binary) << bytes;
  }
  std::string dir_;
};

TEST(PlanArtifact, MakePlanRecordsEverything) {
  const plan::Plan p = sample_plan();
  EXPECT_EQ(p.model_name(), "deepseek-v3");
  EXPECT_EQ(p.cluster_name(), "h800-2048");
  EXPECT_EQ(p.accelerator(), "H800 SXM");
  EXPECT_EQ(p.sadari_version(), "0.1.0 (abc)");
  EXPECT_EQ(p.world_size(), 2048);
  EXPECT_EQ(p.workload().precision(), "fp8");
  EXPECT_EQ(p.memory().limit(), 80e9);
  EXPECT_EQ(p.memory().total(), sample_estimate().memory.total());
  expect_same_estimate(estimate_from_plan(p), sample_estimate());
  EXPECT_EQ(workload_from_plan(p).global_batch, 4096);
  EXPECT_EQ(workload_from_plan(p).precision, "fp8");
}

TEST(PlanArtifact, TextJsonAndBinaryRoundTripExactly) {
  const plan::Plan p = sample_plan();
  const std::string text = plan_to_text(p);
  EXPECT_EQ(text.rfind("# sadari plan", 0), 0u) << text;
  EXPECT_NE(text.find("schedule: \"dualpipe\""), std::string::npos) << text;
  EXPECT_NE(text.find("pp16 dp128 ep64"), std::string::npos) << text;
  const plan::Plan from_text = plan_from_text(text, "t.plan.txtpb");
  EXPECT_EQ(from_text.SerializeAsString(), p.SerializeAsString());
  expect_same_estimate(estimate_from_plan(from_text), sample_estimate());

  const std::string json = message_to_json(p, false);
  EXPECT_NE(json.find("\"pp\":16"), std::string::npos) << json;  // numbers, not strings
  EXPECT_NE(json.find("\"zero_stage\":1"), std::string::npos) << json;
  EXPECT_EQ(plan_from_json(json, "t.json").SerializeAsString(), p.SerializeAsString());

  std::string bytes;
  ASSERT_TRUE(p.SerializeToString(&bytes));
  EXPECT_EQ(plan_from_binary(bytes, "t.pb").SerializeAsString(), p.SerializeAsString());
}

TEST_F(PlanFiles, WritesAndReadsEachFormatByName) {
  const plan::Plan p = sample_plan();
  for (const char* name : {"a.plan.txtpb", "a.json", "a.pb", "a.binpb"}) {
    write_plan_file(path(name), p);
    EXPECT_FALSE(std::filesystem::exists(path(name) + ".tmp")) << name;
    EXPECT_EQ(read_plan_file(path(name)).SerializeAsString(), p.SerializeAsString()) << name;
  }
  std::ifstream in(path("a.json"));
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first, "{");
  std::ifstream txt(path("a.plan.txtpb"));
  std::getline(txt, first);
  EXPECT_EQ(first.rfind("# sadari plan", 0), 0u);
}

TEST_F(PlanFiles, MalformedFilesNameTheFileAndTheProblem) {
  const std::string missing = path("none.plan.txtpb");
  std::string e = error_of([&] { read_plan_file(missing); });
  EXPECT_NE(e.find(missing), std::string::npos) << e;
  EXPECT_NE(e.find("not found"), std::string::npos) << e;

  write("syntax.plan.txtpb", "model_name: \"m\"\nlayout {\n  pp: 2\n  dp: banana\n}\n");
  e = error_of([&] { read_plan_file(path("syntax.plan.txtpb")); });
  EXPECT_NE(e.find(path("syntax.plan.txtpb") + ":4:"), std::string::npos) << e;
  EXPECT_NE(e.find("not a sadari plan"), std::string::npos) << e;

  write("unknown.plan.txtpb", "model_name: \"m\"\ntensor_parallel: 8\n");
  e = error_of([&] { read_plan_file(path("unknown.plan.txtpb")); });
  EXPECT_NE(e.find(":2:"), std::string::npos) << e;
  EXPECT_NE(e.find("tensor_parallel"), std::string::npos) << e;

  // Well-formed but unusable: a count of 0, a world size that is not pp x dp.
  plan::Plan p = sample_plan();
  p.mutable_layout()->set_ep(0);
  write("zero.plan.txtpb", plan_to_text(p));
  e = error_of([&] { read_plan_file(path("zero.plan.txtpb")); });
  EXPECT_NE(e.find("layout.ep must be >= 1, got 0"), std::string::npos) << e;
  EXPECT_NE(e.find(path("zero.plan.txtpb")), std::string::npos) << e;

  p = sample_plan();
  p.set_world_size(1024);
  write("world.json", message_to_json(p, true));
  e = error_of([&] { read_plan_file(path("world.json")); });
  EXPECT_NE(e.find("world_size 1024 is not layout.pp x layout.dp = 16 x 128"), std::string::npos) << e;

  p = sample_plan();
  p.mutable_layout()->set_schedule("zigzag");
  write("schedule.plan.txtpb", plan_to_text(p));
  e = error_of([&] { read_plan_file(path("schedule.plan.txtpb")); });
  EXPECT_NE(e.find("'zigzag' is not a pipeline schedule"), std::string::npos) << e;

  write("bad.json", "{\"model_name\": \"m\", \"layout\": {\"pp\": \"two\"}}");
  e = error_of([&] { read_plan_file(path("bad.json")); });
  EXPECT_NE(e.find("not a sadari plan in JSON"), std::string::npos) << e;
  EXPECT_NE(e.find(path("bad.json")), std::string::npos) << e;

  write("bad.pb", std::string("\xff\xff\xff\xff", 4));
  e = error_of([&] { read_plan_file(path("bad.pb")); });
  EXPECT_NE(e.find("not a binary sadari plan"), std::string::npos) << e;

  write("empty.plan.txtpb", "# nothing\n");
  e = error_of([&] { read_plan_file(path("empty.plan.txtpb")); });
  EXPECT_NE(e.find("names no model"), std::string::npos) << e;
}

TEST_F(PlanFiles, WritingToAMissingFolderFailsWithoutLeavingAFile) {
  const std::string bad = path("no/such/dir/a.plan.txtpb");
  const std::string e = error_of([&] { write_plan_file(bad, sample_plan()); });
  EXPECT_NE(e.find("cannot write the plan file"), std::string::npos) << e;
  EXPECT_FALSE(std::filesystem::exists(bad));
}

}  // namespace
}  // namespace sadari
