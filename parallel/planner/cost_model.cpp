// The cost model's entry points (cost_model.h): layout checks, the estimate of
// one layout, and the per-rank model shapes the memory and time models share.
//
// Where the formulas live:
//   model_cost.cpp    parameters and FLOPs per token
//   memory_model.cpp  bytes per GPU (weights, gradients, master, moments,
//                     activations x in-flight micro-batches, buffers)
//   time_model.cpp    seconds per step (compute, EP all-to-all, DP sync, pipeline
//                     transfers, the simulated bubble) and what overlaps
// An estimate: split the layers into stages as the runtime does, give each pp
// rank its chunks (the schedule's stage map), compute every rank's memory and
// report the most loaded rank, then time the step.
//
// MFU: model FLOPs per token (3 x forward: dense + attention + routed experts,
// no recomputation) x tokens per step / (BF16 peak x GPUs x step): the usual
// convention, against BF16 peak even when GEMMs run in FP8.
#include <algorithm>
#include <map>
#include <mutex>

#include "core/error.h"
#include "parallel/planner/cost_parts.h"

namespace sadari {

using detail::cat;

namespace cost {

double RankShape::dense_params() const {
  double s = 0;
  for (const auto& c : chunks) s += c.dense_params;
  return s;
}
double RankShape::expert_params() const {
  double s = 0;
  for (const auto& c : chunks) s += c.expert_params;
  return s;
}

std::vector<RankShape> rank_shapes(const ModelConfig& m, const Layout& layout, int64_t seq) {
  const ScheduleKind kind = schedule_kind(layout);
  const int64_t stages = kind == ScheduleKind::dualpipe ? layout.pp : layout.pp * layout.chunks;
  // The stage split (a dynamic program over the layers) is memoised per model,
  // stage count and sequence length.
  static std::mutex mutex;
  static std::vector<std::tuple<ModelConfig, int64_t, int64_t, std::vector<StageLayers>>> splits;
  std::vector<StageLayers> spans;
  {
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& [model, n, s, v] : splits)
      if (n == stages && s == seq && model == m) spans = v;
  }
  if (spans.empty()) {
    spans = balanced_stages(m, stages, seq);
    std::lock_guard<std::mutex> lock(mutex);
    if (splits.size() > 64) splits.clear();
    splits.emplace_back(m, stages, seq, spans);
  }
  // Stage -> rank map of the schedule (parallel/pipeline_schedule.h).
  auto stage_of = [&](int64_t r, int64_t c) -> int64_t {
    const int64_t P = layout.pp;
    switch (kind) {
      case ScheduleKind::interleaved_1f1b: return c * P + r;
      case ScheduleKind::dualpipe: return c == 0 ? r : P - 1 - r;
      case ScheduleKind::dualpipe_v: return c == 0 ? r : 2 * P - 1 - r;
      default: return r;
    }
  };
  std::vector<BlockCost> blocks;
  for (int64_t l = 0; l < m.layers; ++l) blocks.push_back(block_cost_of(m, l, seq));
  std::vector<RankShape> ranks(static_cast<size_t>(layout.pp));
  for (int64_t r = 0; r < layout.pp; ++r) {
    for (int64_t c = 0; c < layout.chunks; ++c) {
      ChunkShape ch;
      ch.span = spans[static_cast<size_t>(stage_of(r, c))];
      for (int64_t l = ch.span.first; l < ch.span.end(); ++l) {
        const BlockCost& b = blocks[static_cast<size_t>(l)];
        ch.dense_params += b.dense_params;
        ch.expert_params += b.expert_params / static_cast<double>(layout.ep);
        ch.gemm_flops += b.gemm_flops;
        ch.expert_flops += b.expert_flops;
        ch.attention_flops += b.attention_flops;
        ch.up_projection_flops += b.up_projection_flops;
        if (b.moe) ++ch.moe_layers;
      }
      if (ch.span.has_embedding) ch.dense_params += embedding_params(m);
      if (ch.span.has_head) {
        ch.dense_params += head_params(m);
        ch.head_flops = head_flops(m);
      }
      ranks[static_cast<size_t>(r)].chunks.push_back(ch);
    }
  }
  return ranks;
}

}  // namespace cost

std::string Layout::describe() const {
  std::string s = cat("pp", pp, " dp", dp, " ep", ep, " mb", micro_batch, "x", microbatches, " ", schedule);
  if (chunks != 1 && schedule != "dualpipe" && schedule != "dualpipev") s += cat(" chunks", chunks);
  s += cat(" zero", zero_stage);
  if (recompute) s += " recompute";
  return s;
}

std::string layout_problem(const ModelConfig& model, const ClusterSpec& cluster, const Workload& work,
                           const Layout& l) {
  for (const auto& [name, v] : {std::pair<const char*, int64_t>{"pp", l.pp},
                                {"dp", l.dp},
                                {"ep", l.ep},
                                {"micro_batch", l.micro_batch},
                                {"microbatches", l.microbatches},
                                {"chunks", l.chunks}})
    if (v < 1) return cat(name, " ", v, " < 1");
  if (work.seq_len < 1 || work.global_batch < 1)
    return cat("workload seq_len ", work.seq_len, " and global_batch ", work.global_batch, " must be >= 1");
  if (l.world() > cluster.gpus())
    return cat("world ", l.world(), " (pp ", l.pp, " x dp ", l.dp, ") > ", cluster.gpus(), " GPUs of ",
               cluster.name);
  if (l.dp % l.ep != 0) return cat("ep ", l.ep, " does not divide dp ", l.dp);
  if (l.ep > 1 && model.experts % l.ep != 0) return cat("ep ", l.ep, " does not divide experts ", model.experts);
  if (l.ep > 1 && model.first_dense_layers >= model.layers)
    return cat("ep ", l.ep, " > 1 for a model without MoE layers");
  if (l.zero_stage != 0 && l.zero_stage != 1) return cat("zero_stage ", l.zero_stage, " is not 0 or 1");
  if (work.global_batch != l.dp * l.micro_batch * l.microbatches)
    return cat("global_batch ", work.global_batch, " != dp x micro_batch x microbatches (", l.dp, " x ",
               l.micro_batch, " x ", l.microbatches, ")");
  if (work.seq_len > model.max_seq_len)
    return cat("seq_len ", work.seq_len, " > model max_seq_len ", model.max_seq_len);
  if (work.precision != "f32" && work.precision != "bf16" && work.precision != "fp8")
    return cat("precision '", work.precision, "' is not f32, bf16 or fp8");
  // The CPU runtime emulates bf16 and fp8 (model/compute_precision.h): f32 storage,
  // GEMMs at the f32 rate; only GPUs need FP8 units.
  if (work.precision == "fp8" && cluster.gpu.fp8_tflops <= 0 && cluster.gpu.kind != "cpu")
    return cat("precision fp8 on ", cluster.gpu.model, ", which has no FP8 units (fp8_tflops 0)");
  if (cluster.gpu.kind == "cpu") {
    if (l.recompute) return "the CPU runtime does not recompute activations";
    if (model.attention != "mha") return cat("the CPU runtime trains attention mha, not ", model.attention);
  }
  // Schedules (parallel/pipeline_generators.h).
  const std::string& s = l.schedule;
  const bool two_chunks = s == "dualpipe" || s == "dualpipev";
  if (s != "gpipe" && s != "1f1b" && s != "interleaved" && s != "zb-h1" && !two_chunks)
    return cat("schedule '", s, "' is not gpipe, 1f1b, interleaved, zb-h1, dualpipe or dualpipev");
  if (two_chunks && l.chunks != 2) return cat("schedule ", s, " needs chunks 2, got ", l.chunks);
  if (s == "interleaved" && l.chunks < 2) return cat("schedule interleaved needs chunks >= 2, got ", l.chunks);
  if (!two_chunks && s != "interleaved" && l.chunks != 1)
    return cat("schedule ", s, " runs one chunk per rank, got chunks ", l.chunks);
  const int64_t stages = s == "dualpipe" ? l.pp : l.pp * l.chunks;
  if (stages > model.layers)
    return cat(stages == l.pp ? cat("pp ", l.pp) : cat("pp x chunks ", stages), " > layers ", model.layers);
  if (s == "interleaved" && l.microbatches % l.pp != 0)
    return cat("schedule interleaved needs microbatches (", l.microbatches, ") a multiple of pp (", l.pp, ")");
  if (s == "dualpipe" && l.pp % 2 != 0) return cat("schedule dualpipe needs an even pp, got ", l.pp);
  if (s == "dualpipe" && (l.microbatches % 2 != 0 || l.microbatches < 2 * l.pp))
    return cat("schedule dualpipe needs an even microbatches >= 2 x pp (", 2 * l.pp, "), got ", l.microbatches);
  if (s == "dualpipev" && l.microbatches < 2 * l.pp)
    return cat("schedule dualpipev needs microbatches >= 2 x pp (", 2 * l.pp, "), got ", l.microbatches);
  return {};
}

Estimate estimate(const ModelConfig& model, const ClusterSpec& cluster, const Workload& work,
                  const Layout& layout) {
  if (std::string problem = layout_problem(model, cluster, work, layout); !problem.empty())
    fail(cat("cannot estimate layout ", layout.describe(), ": ", problem), "cost model",
         "check layout_problem() before estimate()");
  const std::vector<cost::RankShape> ranks = cost::rank_shapes(model, layout, work.seq_len);
  const cost::ScheduleInfo schedule = cost::schedule_for(layout);
  Estimate e;
  e.layout = layout;
  for (int r = 0; r < static_cast<int>(ranks.size()); ++r) {
    MemoryBreakdown mem = cost::rank_memory(model, cluster, work, layout, ranks, r, schedule);
    if (r == 0 || mem.total() > e.memory.total()) e.memory = mem;
  }
  // GPipe keeps every micro-batch's activations; the schedule may be simulated
  // with fewer micro-batches (time_model.cpp), so scale to the real count.
  if (layout.schedule == "gpipe" && schedule.simulated_microbatches < layout.microbatches)
    e.memory.activations *= static_cast<double>(layout.microbatches) / schedule.simulated_microbatches;
  e.time = cost::step_time(model, cluster, work, layout, ranks, schedule);
  const double limit = cluster.gpu.memory_gb * 1e9;
  e.fits = e.memory.total() <= limit;
  e.memory_overshoot = e.fits ? 0.0 : e.memory.total() - limit;
  const double tokens = static_cast<double>(work.global_batch * work.seq_len);
  if (e.time.step > 0) {
    e.tokens_per_s = tokens / e.time.step;
    const ModelCost mc = model_cost(model, work.seq_len);
    e.mfu = mc.train_flops() * e.tokens_per_s /
            (cluster.gpu.bf16_tflops * 1e12 * static_cast<double>(layout.world()));
    e.gpu_hours_per_trillion_tokens = static_cast<double>(layout.world()) * e.time.step / 3600.0 * 1e12 / tokens;
  }
  return e;
}

}  // namespace sadari
