// Internal pieces of the cost model (cost_model.h), shared by model_cost.cpp,
// memory_model.cpp, time_model.cpp and cost_model.cpp. Not for use outside
// parallel/planner/ (the public contract is cost_model.h).
//
// Everything is per token unless named otherwise; FLOPs count 2 per multiply-add;
// parameters are element counts. Pure functions; the two caches (stage splits and
// simulated schedules) are guarded by a mutex, so estimate() may run on several
// threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "parallel/pipeline_schedule.h"
#include "parallel/planner/cluster.h"
#include "parallel/planner/cost_model.h"
#include "parallel/stage_partition.h"

namespace sadari::cost {

// One transformer block.
struct BlockCost {
  bool moe = false;
  double dense_params = 0;    // attention, norms, dense FFN or router + shared experts (+ router bias)
  double expert_params = 0;   // all routed experts of the block
  double gemm_flops = 0;      // forward, per token: projections, dense FFN / shared experts, router
  double expert_flops = 0;    // forward, per token: the top_k routed experts
  double attention_flops = 0; // forward, per token: scores and weighted values (causal)
  double up_projection_flops = 0;  // forward, per token: MLA's wq_b and wkv_b (0 for mha)
};

BlockCost block_cost_of(const ModelConfig& m, int64_t layer, int64_t seq);
double embedding_params(const ModelConfig& m);  // embedding [V, D]
double head_params(const ModelConfig& m);       // final norm [D] + head [V, D]
double head_flops(const ModelConfig& m);        // forward, per token: the head GEMM

enum class Precision { f32, bf16, fp8 };
Precision parse_precision(const std::string& name);  // REQUIRES a valid name

// The model pieces one pipeline rank holds, chunk by chunk.
struct ChunkShape {
  StageLayers span;
  int64_t moe_layers = 0;
  double dense_params = 0;   // blocks + embedding/head when the chunk has them
  double expert_params = 0;  // this ep rank's experts only (experts / ep of each MoE block)
  double gemm_flops = 0;     // forward per token, compute-precision GEMMs (blocks)
  double expert_flops = 0;   // forward per token, routed experts (compute precision)
  double head_flops = 0;     // forward per token, head GEMM (kept in BF16 / f32)
  double attention_flops = 0;
  double up_projection_flops = 0;  // part of gemm_flops; recomputed under the FP8 recipe
};
struct RankShape {
  std::vector<ChunkShape> chunks;  // index = the schedule's chunk
  double dense_params() const;
  double expert_params() const;
};

// The schedule a layout runs (memoised; see time_model.cpp for why the number of
// micro-batches may be capped). `simulated_microbatches` says which M it has.
struct ScheduleInfo {
  std::shared_ptr<const PipelineSchedule> schedule;
  int simulated_microbatches = 0;
};
// microbatches: the M to generate (0: the layout's, capped at 4 x pp).
ScheduleInfo schedule_for(const Layout& layout, int microbatches = 0);
ScheduleKind schedule_kind(const Layout& layout);

// Rank shapes of every pp rank (memoised stage split).
std::vector<RankShape> rank_shapes(const ModelConfig& m, const Layout& layout, int64_t seq);

// Activation bytes one micro-batch of `tokens` tokens (micro_batch sequences of
// `seq`) leaves on a chunk until its backward completes.
double activation_bytes(const ModelConfig& m, const ClusterSpec& cluster, const ChunkShape& chunk,
                        const Layout& layout, Precision precision, int64_t seq);

// Memory of pipeline rank `rank` (of the rank shapes) under `layout`.
MemoryBreakdown rank_memory(const ModelConfig& m, const ClusterSpec& cluster, const Workload& work,
                            const Layout& layout, const std::vector<RankShape>& ranks, int rank,
                            const ScheduleInfo& schedule);

TimeBreakdown step_time(const ModelConfig& m, const ClusterSpec& cluster, const Workload& work,
                        const Layout& layout, const std::vector<RankShape>& ranks,
                        const ScheduleInfo& schedule);

}  // namespace sadari::cost
