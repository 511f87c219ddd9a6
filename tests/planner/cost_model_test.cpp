// The cost model (parallel/planner/cost_model.h): parameter counts against the
// built model, FLOPs against the model's own count, DeepSeek-V3's published
// figures, the memory rules (ZeRO-1, recomputation, in-flight micro-batches),
// the simulated bubble, and layout_problem's rejections.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

#include "core/config_load.h"
#include "model/transformer.h"
#include "parallel/pipeline_generators.h"
#include "parallel/pipeline_simulator.h"
#include "parallel/planner/cluster.h"
#include "parallel/planner/cost_model.h"
#include "parallel/planner/cost_parts.h"

namespace sadari {
namespace {

std::string source(const std::string& rel) { return std::string(SADARI_SOURCE_DIR) + "/" + rel; }

ModelConfig model_of(const std::string& rel) { return load_config(source(rel)).model; }
ClusterSpec cluster_of(const std::string& name) { return load_cluster(source("configs/clusters/" + name)); }

// DeepSeek-V3's pre-training layout (report 3.2 and 4.2): pp16 DualPipe, ep64
// over 8 nodes, dp128 with ZeRO-1, no TP; batch 15360 x 4K (the value after the
// batch-size ramp); FP8 recipe (BF16 weights, fp32 master and gradients, BF16
// moments). One sequence per micro-batch: 15360 / 128 = 120 micro-batches.
Workload deepseek_workload() {
  Workload w;
  w.global_batch = 15360;
  w.seq_len = 4096;
  w.precision = "fp8";
  return w;
}
Layout deepseek_layout() {
  Layout l;
  l.pp = 16;
  l.dp = 128;
  l.ep = 64;
  l.micro_batch = 1;
  l.microbatches = 120;
  l.schedule = "dualpipe";
  l.chunks = 2;
  l.zero_stage = 1;
  return l;
}

TEST(CostModel, ParameterCountsEqualTheBuiltModel) {
  for (const char* file : {"configs/tiny-moe.yaml", "configs/small-moe.yaml"}) {
    const Config cfg = load_config(source(file));
    Transformer<float> model(cfg.model, cfg.train.seed);
    const ModelCost c = model_cost(cfg.model, cfg.train.seq_len);
    EXPECT_EQ(c.total_params, static_cast<double>(model.params().numel())) << file;
    double experts = 0;
    for (const auto& p : model.params().all())
      if (p->expert_id >= 0) experts += static_cast<double>(p->numel());
    EXPECT_EQ(c.expert_params, experts) << file;
    // A token uses top_k of the routed experts.
    EXPECT_DOUBLE_EQ(c.active_params,
                     c.total_params - experts + experts * cfg.model.top_k / cfg.model.experts)
        << file;
  }
}

TEST(CostModel, FlopsEqualTheModelsOwnCount) {
  // Transformer::train_flops_per_token: 3 x forward, blocks and head.
  for (const char* file : {"configs/tiny-moe.yaml", "configs/small-moe.yaml"}) {
    const Config cfg = load_config(source(file));
    Transformer<float> model(cfg.model, cfg.train.seed);
    for (int64_t seq : {int64_t{16}, cfg.train.seq_len}) {
      const ModelCost c = model_cost(cfg.model, seq);
      EXPECT_NEAR(3.0 * c.forward_flops(), model.train_flops_per_token(seq),
                  1e-9 * model.train_flops_per_token(seq))
          << file << " seq " << seq;
      EXPECT_DOUBLE_EQ(c.train_flops(), 3.0 * c.forward_flops());
    }
  }
}

TEST(CostModel, DeepSeekV3Totals) {
  const ModelConfig m = model_of("configs/models/deepseek-v3.yaml");
  const ModelCost c = model_cost(m, 4096);
  // The report: 671B total, 37B activated per token (the MTP module's 14B not
  // included: it is not part of this config).
  EXPECT_NEAR(c.total_params / 1e9, 671, 0.02 * 671) << c.total_params;
  EXPECT_NEAR(c.active_params / 1e9, 37, 0.03 * 37) << c.active_params;
  // 58 MoE layers x 256 experts x 3 x 7168 x 2048.
  EXPECT_DOUBLE_EQ(c.expert_params, 58.0 * 256 * 3 * 7168 * 2048);
  // Dense + MoE FLOPs are 2 x the active matmul weights (no embedding lookup).
  EXPECT_NEAR(c.forward_flops_dense + c.forward_flops_moe,
              2.0 * (c.active_params - 129280.0 * 7168 - 61 * 2 * 7168.0 - 7168 - 58 * (256 + 1536 + 512.0) -
                     58 * 256.0),
              1e-6 * c.forward_flops_dense);
  EXPECT_GT(c.forward_flops_attention, 0);
}

TEST(CostModel, DeepSeekV3OnH800FitsAndIsPlausible) {
  const ModelConfig m = model_of("configs/models/deepseek-v3.yaml");
  const ClusterSpec h800 = cluster_of("h800-2048.yaml");
  const Workload w = deepseek_workload();
  const Layout l = deepseek_layout();
  ASSERT_EQ(layout_problem(m, h800, w, l), "");
  const Estimate e = estimate(m, h800, w, l);
  const MemoryBreakdown& mem = e.memory;
  std::printf(
      "DeepSeek-V3 %s on h800-2048: memory %.1f GB (weights %.1f grads %.1f master %.1f moments %.1f "
      "activations %.1f buffers %.1f overhead %.1f)\n",
      l.describe().c_str(), mem.total() / 1e9, mem.weights / 1e9, mem.gradients / 1e9, mem.master_weights / 1e9,
      mem.optimizer_states / 1e9, mem.activations / 1e9, mem.comm_buffers / 1e9, mem.runtime_overhead / 1e9);
  std::printf(
      "  step %.2f s (compute %.2f bubble %.2f exposed comm %.2f: ep dispatch %.2f combine %.2f dp %.2f pp "
      "%.2f); EP %.0f B/token/layer, %.0f%% inter-node; MFU %.1f%%; %.0f GPU-hours per trillion tokens\n",
      e.time.step, e.time.compute, e.time.bubble, e.time.exposed_comm, e.time.ep_dispatch, e.time.ep_combine,
      e.time.dp_sync, e.time.pp_transfer, e.time.ep_bytes_per_token, 100 * e.time.ep_inter_node_fraction,
      100 * e.mfu, e.gpu_hours_per_trillion_tokens);
  EXPECT_TRUE(e.fits) << mem.total() / 1e9 << " GB";
  // DeepSeek reported 180K H800 GPU-hours per trillion tokens; the estimate comes
  // from stated efficiencies, so only a plausible range is asserted.
  EXPECT_GT(e.gpu_hours_per_trillion_tokens, 120e3);
  EXPECT_LT(e.gpu_hours_per_trillion_tokens, 400e3);
  // Node-limited routing: a token crosses IB to at most 4 of the 8 nodes; most
  // rows still leave the node.
  EXPECT_GT(e.time.ep_inter_node_fraction, 0.3);
  EXPECT_LT(e.time.ep_inter_node_fraction, 0.7);
  EXPECT_DOUBLE_EQ(e.time.step, e.time.compute + e.time.bubble + e.time.exposed_comm);
}

TEST(CostModel, ZeroOneShardsOptimizerStateByDpAndEdp) {
  // pp1 dp1024 ep64: every rank holds all dense parameters and 4 experts per layer.
  const ModelConfig m = model_of("configs/models/deepseek-v3.yaml");
  const ClusterSpec h800 = cluster_of("h800-2048.yaml");
  const Workload w = deepseek_workload();
  Layout l;
  l.dp = 1024;
  l.ep = 64;
  l.microbatches = 15;
  l.zero_stage = 0;
  const Estimate z0 = estimate(m, h800, w, l);
  l.zero_stage = 1;
  const Estimate z1 = estimate(m, h800, w, l);
  const ModelCost c = model_cost(m, w.seq_len);
  const double dense = c.total_params - c.expert_params, experts = c.expert_params / 64;
  EXPECT_DOUBLE_EQ(z0.memory.weights, 2 * (dense + experts));
  EXPECT_DOUBLE_EQ(z0.memory.gradients, 4 * (dense + experts));
  // FP8 recipe: fp32 master, BF16 m and v; ZeRO-1 shards dense state over dp
  // (1024) and expert state over edp (1024 / 64 = 16).
  EXPECT_DOUBLE_EQ(z0.memory.master_weights, 4 * (dense + experts));
  EXPECT_DOUBLE_EQ(z0.memory.optimizer_states, 4 * (dense + experts));
  EXPECT_DOUBLE_EQ(z1.memory.master_weights, 4 * (dense / 1024 + experts / 16));
  EXPECT_DOUBLE_EQ(z1.memory.optimizer_states, 4 * (dense / 1024 + experts / 16));
  EXPECT_DOUBLE_EQ(z1.memory.weights, z0.memory.weights);
  // BF16 training keeps fp32 moments: twice the FP8 recipe's.
  Workload bf16 = w;
  bf16.precision = "bf16";
  EXPECT_DOUBLE_EQ(estimate(m, h800, bf16, l).memory.optimizer_states, 2 * z1.memory.optimizer_states);

  // A model without experts: the shard is exactly 1 / dp.
  ModelConfig no_moe = load_config(source("configs/tiny-moe.yaml")).model;
  no_moe.first_dense_layers = no_moe.layers;
  const ClusterSpec cpu = cluster_of("cpu-box.yaml");
  Workload tw;
  tw.global_batch = 16;
  tw.seq_len = 64;
  tw.precision = "f32";
  Layout dl;
  dl.dp = 2;
  dl.micro_batch = 8;
  dl.zero_stage = 0;
  const Estimate d0 = estimate(no_moe, cpu, tw, dl);
  dl.zero_stage = 1;
  const Estimate d1 = estimate(no_moe, cpu, tw, dl);
  EXPECT_DOUBLE_EQ(d1.memory.optimizer_states, d0.memory.optimizer_states / 2);
  // CPU runtime: ZeRO-0 updates the f32 weights in place (no master copy);
  // ShardedAdamW keeps its own f32 master shard.
  EXPECT_EQ(d0.memory.master_weights, 0);
  EXPECT_DOUBLE_EQ(d1.memory.master_weights, d1.memory.weights / 2);
}

TEST(CostModel, RecomputeShrinksActivationsAndCostsCompute) {
  const ModelConfig m = model_of("configs/models/deepseek-v3.yaml");
  const ClusterSpec h800 = cluster_of("h800-2048.yaml");
  Workload w = deepseek_workload();
  w.precision = "bf16";
  Layout l = deepseek_layout();
  const Estimate keep = estimate(m, h800, w, l);
  l.recompute = true;
  const Estimate again = estimate(m, h800, w, l);
  EXPECT_LT(again.memory.activations, keep.memory.activations / 4);
  EXPECT_GT(again.time.compute, keep.time.compute * 1.2);
}

TEST(CostModel, OneFOneBBubbleIsTheSimulatorsAndStaysConstantBeyondTheCap) {
  // 1F1B with uniform stages: idle = (P - 1)(F + B + W) per rank, compute =
  // M (F + B + W), whatever the costs; also for M above the simulated 4 x pp.
  const ModelConfig m = model_of("configs/small-moe.yaml");
  ClusterSpec fast = cluster_of("h100-2048.yaml");
  fast.intra_node.bandwidth_gbs = fast.inter_node.bandwidth_gbs = 1e12;  // no transfer time
  fast.intra_node.latency_us = fast.inter_node.latency_us = 0;
  for (int64_t M : {int64_t{8}, int64_t{16}, int64_t{64}}) {
    Workload w;
    w.seq_len = 256;
    w.global_batch = M;
    Layout l;
    l.pp = 4;
    l.microbatches = M;
    const Estimate e = estimate(m, fast, w, l);
    EXPECT_NEAR(e.time.bubble / e.time.compute, 3.0 / static_cast<double>(M), 0.01 * 3.0 / M) << M;
  }
}

TEST(CostModel, SteadyStateAssumptionHolds) {
  // time_model.cpp simulates at most 4 x pp micro-batches and extrapolates
  // linearly from 2 x pp and 4 x pp: from 2 x pp on, a schedule's idle time grows
  // linearly in M (with transfer delays it does grow) and its in-flight peak
  // (except GPipe's) stops changing.
  SimulationCosts costs;
  costs.forward = 1.0;
  costs.backward_input = 1.3;
  costs.backward_weight = 0.9;
  costs.overlapped_f_b = 2.8;
  costs.p2p = 0.05;
  for (ScheduleKind kind : {ScheduleKind::gpipe, ScheduleKind::one_f_one_b, ScheduleKind::interleaved_1f1b,
                            ScheduleKind::zb_h1, ScheduleKind::dualpipe, ScheduleKind::dualpipe_v}) {
  for (int P : {4, 6}) {
    double idle[3];
    int peak[3];
    for (int i = 0; i < 3; ++i) {
      ScheduleRequest req;
      req.kind = kind;
      req.ranks = P;
      req.microbatches = (i + 1) * 2 * P;
      const PipelineSchedule s = generate_schedule(req);
      const SimulationResult r = simulate_schedule(s, costs);
      double busy = 0;
      for (const auto& rank : r.ranks) busy = std::max(busy, rank.compute);
      idle[i] = r.makespan - busy;
      peak[i] = 0;
      for (int rank = 0; rank < P; ++rank) peak[i] = std::max(peak[i], peak_activations(s, rank));
    }
    EXPECT_NEAR(idle[2] - idle[1], idle[1] - idle[0], 1e-9) << to_string(kind) << " P " << P;
    if (kind != ScheduleKind::gpipe) {
      EXPECT_EQ(peak[1], peak[2]) << to_string(kind) << " P " << P;
    }
  }
  }
}

TEST(CostModel, InFlightMicroBatchesFollowTheSchedule) {
  // CPU runtime, pp4, rank 0: GPipe keeps all 8 micro-batches, 1F1B at most 4,
  // and the CPU executor's cache pool holds exactly that many.
  const Config cfg = load_config(source("configs/tiny-moe.yaml"));
  ClusterSpec cpu = cluster_of("cpu-box.yaml");
  cpu.gpus_per_node = 4;
  Workload w;
  w.global_batch = 16;
  w.seq_len = 64;
  w.precision = "f32";
  Layout l;
  l.pp = 4;
  l.micro_batch = 2;
  l.microbatches = 8;
  auto rank0_activations = [&](const std::string& schedule) {
    l.schedule = schedule;
    const auto ranks = cost::rank_shapes(cfg.model, l, w.seq_len);
    const MemoryBreakdown mem = cost::rank_memory(cfg.model, cpu, w, l, ranks, 0, cost::schedule_for(l));
    const double one = cost::activation_bytes(cfg.model, cpu, ranks[0].chunks[0], l, cost::Precision::f32, 64);
    return mem.activations / one;
  };
  EXPECT_DOUBLE_EQ(rank0_activations("gpipe"), 8);
  EXPECT_DOUBLE_EQ(rank0_activations("1f1b"), 4);
}

TEST(CostModel, LayoutProblemCatchesEachInvalidCase) {
  const ModelConfig m = model_of("configs/models/deepseek-v3.yaml");
  const ModelConfig tiny = model_of("configs/tiny-moe.yaml");
  const ClusterSpec h800 = cluster_of("h800-2048.yaml");
  const ClusterSpec cpu = cluster_of("cpu-box.yaml");
  struct Case {
    const char* expect;
    std::function<void(Layout&, Workload&)> change;
    bool on_cpu = false;
  };
  const Case cases[] = {
      {"world 4096", [](Layout& l, Workload& w) { l.dp = 256; w.global_batch = 30720; }},
      {"ep 3 does not divide dp", [](Layout& l, Workload&) { l.ep = 3; }},
      {"does not divide experts", [](Layout& l, Workload& w) {
         l.dp = 96; l.ep = 96; l.microbatches = 160; (void)w; }},
      {"global_batch 15360 != dp", [](Layout& l, Workload&) { l.microbatches = 64; }},
      {"seq_len 8192 > model max_seq_len", [](Layout&, Workload& w) { w.seq_len = 8192; }},
      {"zero_stage 2", [](Layout& l, Workload&) { l.zero_stage = 2; }},
      {"pp 0 < 1", [](Layout& l, Workload&) { l.pp = 0; }},
      {"schedule 'zigzag'", [](Layout& l, Workload&) { l.schedule = "zigzag"; }},
      {"needs chunks 2", [](Layout& l, Workload&) { l.chunks = 1; }},
      {"runs one chunk per rank", [](Layout& l, Workload&) { l.schedule = "1f1b"; }},
      {"interleaved needs chunks >= 2", [](Layout& l, Workload&) { l.schedule = "interleaved"; l.chunks = 1; }},
      {"a multiple of pp", [](Layout& l, Workload& w) {
         l.schedule = "interleaved"; l.microbatches = 40; l.micro_batch = 3; w.global_batch = 15360; }},
      {"dualpipe needs an even pp", [](Layout& l, Workload& w) {
         l.pp = 15; l.dp = 128; (void)w; }},
      {"even microbatches >= 2 x pp", [](Layout& l, Workload&) { l.micro_batch = 8; l.microbatches = 15; }},
      {"dualpipev needs microbatches >= 2 x pp", [](Layout& l, Workload&) {
         l.schedule = "dualpipev"; l.micro_batch = 8; l.microbatches = 15; }},
      {"pp x chunks 64 > layers 61", [](Layout& l, Workload&) {
         l.pp = 32; l.dp = 64; l.schedule = "interleaved"; l.microbatches = 240; }},
      {"precision 'fp16'", [](Layout&, Workload& w) { w.precision = "fp16"; }},
      {"does not recompute", [](Layout& l, Workload& w) { l = Layout{}; l.micro_batch = 16; l.recompute = true;
         w.global_batch = 16; w.seq_len = 64; w.precision = "f32"; }, true},
  };
  ASSERT_EQ(layout_problem(m, h800, deepseek_workload(), deepseek_layout()), "");
  for (const Case& c : cases) {
    Layout l = deepseek_layout();
    Workload w = deepseek_workload();
    c.change(l, w);
    const std::string p = c.on_cpu ? layout_problem(tiny, cpu, w, l) : layout_problem(m, h800, w, l);
    EXPECT_NE(p.find(c.expect), std::string::npos) << "expected '" << c.expect << "', got '" << p << "'";
  }
  // MLA is not trainable on the CPU runtime; bf16 and fp8 are (emulated, at the
  // f32 rate, so no faster); a GPU without FP8 units cannot run fp8.
  Workload w;
  w.global_batch = 16;
  w.seq_len = 64;
  w.precision = "f32";
  Layout l;
  l.micro_batch = 16;
  EXPECT_EQ(layout_problem(tiny, cpu, w, l), "");
  EXPECT_NE(layout_problem(m, cpu, w, l).find("mla"), std::string::npos);
  const double f32_step = estimate(tiny, cpu, w, l).time.step;
  for (const char* emulated : {"bf16", "fp8"}) {
    w.precision = emulated;
    EXPECT_EQ(layout_problem(tiny, cpu, w, l), "") << emulated;
    EXPECT_NEAR(estimate(tiny, cpu, w, l).time.step, f32_step, 0.01 * f32_step) << emulated;
  }
  ClusterSpec no_fp8 = h800;
  no_fp8.gpu.fp8_tflops = 0;
  EXPECT_NE(layout_problem(m, no_fp8, deepseek_workload(), deepseek_layout()).find("no FP8 units"),
            std::string::npos);
  Workload fp8 = deepseek_workload();
  fp8.precision = "fp8";
  EXPECT_THROW(estimate(m, no_fp8, fp8, deepseek_layout()), Error);
}

TEST(CostModel, DescribeNamesTheLayout) {
  EXPECT_EQ(deepseek_layout().describe(), "pp16 dp128 ep64 mb1x120 dualpipe zero1");
  Layout l;
  l.schedule = "interleaved";
  l.chunks = 2;
  l.recompute = true;
  EXPECT_EQ(l.describe(), "pp1 dp1 ep1 mb1x1 interleaved chunks2 zero1 recompute");
}

}  // namespace
}  // namespace sadari
