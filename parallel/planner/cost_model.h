// The cost model: what a model costs under one parallel layout on one cluster.
//
// Everything is an estimate from formulas stated in cost_model.cpp (and
// docs/architecture.md, "Planners"), per optimizer step, per GPU. The planner
// (layout_search.h) ranks layouts by Estimate::time.step; `sadari plan` prints
// the breakdowns. Pure functions: no I/O, no communication; cheap enough to call
// for tens of thousands of layouts per second.
//
// Conventions: world = pp * dp (no tensor parallelism); ep divides dp;
// global_batch = dp * micro_batch * microbatches (sequences); a "GPU" is one
// rank. Memory in bytes; time in seconds; FLOPs counted as 2 per multiply-add.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"
#include "parallel/planner/cluster.h"

namespace sadari {

// What is being trained: batch and precision (from train.* of a config, or
// `sadari plan` options).
struct Workload {
  int64_t global_batch = 4096;    // sequences per optimizer step
  int64_t seq_len = 4096;
  // f32 | bf16 | fp8. f32: the CPU runtime (f32 weights, gradients, moments).
  // bf16: BF16 weights and GEMMs, fp32 gradients, master and moments. fp8: the
  // DeepSeek-V3 recipe (report 3.3): FP8 GEMMs, BF16 weights and moments, fp32
  // master and gradients, FP8-cached activations, RMSNorm and MLA up-projections
  // recomputed in the backward (memory_model.cpp, time_model.cpp).
  std::string precision = "bf16";
  // Host-resident data the trainer keeps (the CPU runtime holds the corpus), bytes.
  double data_bytes = 0;
};

// One candidate layout.
struct Layout {
  int64_t pp = 1, dp = 1, ep = 1;
  int64_t micro_batch = 1;    // sequences per micro-batch
  int64_t microbatches = 1;   // per dp replica per step
  std::string schedule = "1f1b";  // as parallel.schedule
  int64_t chunks = 1;             // as parallel.chunks
  int64_t zero_stage = 1;         // 0 | 1
  bool recompute = false;         // recompute activations in the backward

  int64_t world() const { return pp * dp; }
  // "pp16 dp128 ep64 mb1x32 dualpipe zero1" (recompute appended when on).
  std::string describe() const;
  bool operator==(const Layout&) const = default;
};

// Parameters and FLOPs of the model (independent of the layout).
struct ModelCost {
  double total_params = 0;        // every parameter, all experts
  double active_params = 0;       // used by one token (top_k + shared experts)
  double embedding_params = 0;    // embedding + head
  double expert_params = 0;       // routed experts, all layers
  // Forward FLOPs per token at seq_len: dense matmuls (attention projections,
  // dense FFN, shared experts, head), attention scores/values, routed experts.
  double forward_flops_dense = 0, forward_flops_attention = 0, forward_flops_moe = 0;
  double forward_flops() const {
    return forward_flops_dense + forward_flops_attention + forward_flops_moe;
  }
  // Forward + backward (3x forward; + 1 forward with recomputation is NOT included).
  double train_flops() const { return 3 * forward_flops(); }
};

ModelCost model_cost(const ModelConfig& model, int64_t seq_len);

// Bytes per GPU, on the most loaded pipeline rank.
struct MemoryBreakdown {
  double weights = 0;            // parameters in the compute precision (+ fp8 copies)
  double gradients = 0;          // gradient buffers
  double master_weights = 0;     // fp32 master copy (0 when training in f32)
  double optimizer_states = 0;   // AdamW m and v (sharded over the group under ZeRO-1)
  double activations = 0;        // per micro-batch x in-flight micro-batches of the schedule
  double comm_buffers = 0;       // dispatch/combine, gradient buckets, pp receive buffers
  double runtime_overhead = 0;   // cluster.runtime_overhead_gb
  double data = 0;               // workload.data_bytes
  double total() const {
    return weights + gradients + master_weights + optimizer_states + activations +
           comm_buffers + runtime_overhead + data;
  }
};

// Seconds per optimizer step. `step` is what ranks layouts; the parts say where
// time goes and which parts are hidden behind compute (exposed_* are what remains
// visible after the overlap the runtime achieves, stated in cost_model.cpp).
struct TimeBreakdown {
  double compute = 0;       // forward + backward (+ recompute) of one pp rank, all micro-batches
  double ep_dispatch = 0;   // FP8 (or precision) rows out, all MoE layers of a rank
  double ep_combine = 0;    // BF16 rows back
  double dp_sync = 0;       // reduce-scatter + all-gather (ZeRO-1) or all-reduce (ZeRO-0)
  double pp_transfer = 0;   // activations and gradients between stages
  double bubble = 0;        // pipeline idle time (simulated schedule)
  double exposed_comm = 0;  // the communication not overlapped with compute
  double step = 0;          // compute + bubble + exposed_comm
  // Bytes per token and MoE layer of forward EP traffic leaving a GPU (dispatch +
  // combine) and the share of it that crosses nodes (InfiniBand rows / all rows).
  double ep_bytes_per_token = 0;
  double ep_inter_node_fraction = 0;
};

struct Estimate {
  Layout layout;
  MemoryBreakdown memory;
  TimeBreakdown time;
  bool fits = false;              // memory.total() <= cluster.gpu.memory_gb
  double memory_overshoot = 0;    // bytes over the limit (0 when it fits)
  double tokens_per_s = 0;        // global_batch * seq_len / step
  double mfu = 0;                 // model FLOPs (6 x active params + attention) / (peak x gpus x step)
  double gpu_hours_per_trillion_tokens = 0;
};

// Why `layout` cannot run `model` on `cluster` with `work` ("ep 3 does not divide
// dp 8", "pp 80 > layers 61", "world 4096 > 2048 GPUs", "global_batch 4096 !=
// dp x micro_batch x microbatches"...), or empty when it can. Memory is not
// checked here (see Estimate::fits).
std::string layout_problem(const ModelConfig& model, const ClusterSpec& cluster,
                           const Workload& work, const Layout& layout);

// REQUIRES: layout_problem(...) is empty.
Estimate estimate(const ModelConfig& model, const ClusterSpec& cluster, const Workload& work,
                  const Layout& layout);

}  // namespace sadari
