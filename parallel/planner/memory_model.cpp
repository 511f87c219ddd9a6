// Memory per GPU (cost_model.h: MemoryBreakdown), for one pipeline rank.
//
// Parameters on a rank: the blocks of its chunks (stage split as the runtime
// makes it: parallel/stage_partition.h balanced_stages), the embedding on the
// first stage, final norm and head on the last; DualPipe ranks hold two stages
// (two copies of every stage in the pipe). Routed experts: experts / ep of each
// MoE block. "Shard" below is the ZeRO-1 group: dp for dense parameters, edp =
// dp / ep for routed experts; under ZeRO-0 the shard is everything.
//
// Bytes per parameter, by the precision of the run:
//                 f32 (CPU runtime)        bf16 (GPU)            fp8 (DeepSeek-V3 recipe)
//   weights       4                        2                     2 (BF16, cast to FP8 per GEMM)
//   gradients     4                        4 (fp32 accumulation)  4 (fp32 accumulation, report 3.3)
//   master        ZeRO-1: 4 / shard        4 / shard             4 / shard
//                 ZeRO-0: 0 (the weights
//                 are the master)          4                     4
//   moments m, v  8 / shard                8 / shard             4 / shard (BF16 moments, report 3.3)
// The f32 column is exactly the CPU runtime, in every precision (it emulates bf16
// and fp8 GEMMs on f32 storage): ShardedAdamW keeps its own fp32
// master shard even when the model is f32 (optim/zero1_adamw.h), ZeRO-0's AdamW
// updates the weights in place (optim/adamw.h).
//
// Expert load is assumed balanced (what the aux-loss-free bias aims at): every ep
// rank holds n x top_k routed rows of a micro-batch. A rank that receives more
// (routing skew, e.g. at initialisation on a low-entropy corpus) needs more.
//
// Activations: bytes one micro-batch leaves on a chunk (activation_bytes below)
// times the micro-batches in flight. In flight is read off the schedule: walking
// the rank's action list, a (micro-batch, chunk) is live from its forward until
// its backward (or, split, its W) — the simulator's peak_activations. The GPU
// runtime frees a cache at that point, so its peak is the largest sum over live
// (micro-batch, chunk) of their bytes; the CPU executor returns caches to a
// per-chunk pool that never shrinks, so its peak is the sum over chunks of each
// chunk's own peak count times its bytes.
//
// Communication buffers:
//   CPU runtime   the reduce-scatter output shard of ZeRO-1 (4 / shard per
//                 parameter, parallel/gradient_sync.h); the pipeline executor's
//                 receive buffer of every recv action of a step (all are posted
//                 at the step start, [tokens, D] each) and the ids/targets of
//                 first/last-stage micro-batches; EP staging lives in the caches.
//   GPU runtime   EP dispatch (FP8 or the precision) and combine (BF16) receive
//                 buffers of one MoE layer, double-buffered for overlap; pp
//                 receive buffers, double-buffered per chunk. Reduce-scatter and
//                 all-gather run in place in the flat buckets; NCCL's own
//                 buffers are part of cluster.runtime_overhead_gb.
#include <algorithm>
#include <cmath>

#include "parallel/planner/cost_parts.h"

namespace sadari::cost {

namespace {

// GPU activations per token of one block, bytes (see activation_bytes).
double gpu_block_bytes(const ModelConfig& m, int64_t layer, Precision p, bool full_recompute) {
  const double D = static_cast<double>(m.hidden), H = static_cast<double>(m.heads);
  const double a = p == Precision::f32 ? 4.0 : 2.0;                       // stored element
  const double l = p == Precision::fp8 ? 1.0 + 4.0 / 128.0 : a;           // linear-layer input
  if (full_recompute) return a * D;  // only the block input; the rest is recomputed
  double bytes = 2.0 * a * D + 8.0;  // the two norm inputs (residual stream) and rstd
  // Attention.
  if (m.attention == "mla") {
    const double ql = static_cast<double>(m.q_lora_rank), kvl = static_cast<double>(m.kv_lora_rank);
    const double rope = static_cast<double>(m.qk_rope_head_dim), nope = static_cast<double>(m.qk_nope_head_dim);
    const double v = static_cast<double>(m.v_head_dim);
    if (p == Precision::fp8) {
      // DeepSeek-V3 (report 3.3.4 "Recomputation of RMSNorm and MLA Up-Projection"):
      // keep the latents and the attention output; norms, q, k, v are recomputed.
      // The attention output is kept once (BF16, for the attention backward;
      // the FP8 copy wo's weight gradient reads is made from it).
      bytes += a * ql + a * (kvl + rope) + a * H * v + 4.0 * H;
    } else {
      bytes += l * D + (ql > 0 ? a * ql + l * ql : 0.0) + a * (kvl + rope) + l * kvl +
               2.0 * a * H * (nope + rope) + a * H * v + a * H * v + 4.0 * H;
    }
  } else {
    const double hd = static_cast<double>(m.head_dim ? m.head_dim : m.hidden / m.heads);
    const double kv = static_cast<double>(m.kv_heads ? m.kv_heads : m.heads);
    bytes += l * D + a * (H * hd + 2.0 * kv * hd) + a * H * hd + (p == Precision::fp8 ? l * H * hd : 0.0) +
             4.0 * H;
  }
  // SwiGLU of width F: its input, gate/up output and h (FP8 recipe: the SwiGLU
  // input is cached in FP8 and its output recomputed, report 3.3.4).
  auto swiglu = [&](double F) { return p == Precision::fp8 ? l * 2.0 * F : a * 2.0 * F + l * F; };
  if (layer < m.first_dense_layers) {
    // The FFN input is the RMSNorm output: recomputed under the FP8 recipe.
    bytes += (p == Precision::fp8 ? 0.0 : l * D) + swiglu(static_cast<double>(m.dense_ffn_hidden));
  } else {
    const double E = static_cast<double>(m.experts), K = static_cast<double>(m.top_k);
    const double F = static_cast<double>(m.moe_ffn_hidden);
    const double S = static_cast<double>(m.shared_experts) * F;
    // Router input (the RMSNorm output, in higher precision; recomputed under the
    // FP8 recipe like every norm output), scores (fp32), gates.
    bytes += (p == Precision::fp8 ? 0.0 : a * D) + 4.0 * E + 8.0 * K;
    // Per routed slot: the dispatched rows and the SwiGLU activations. The expert
    // output is not kept: the gate's gradient <dy, W_down h> equals
    // <W_down^T dy, h>, which the expert backward computes anyway (the CPU
    // runtime does keep it; see cpu_block_floats).
    bytes += K * (l * D + swiglu(F));
    // Shared experts read the same norm output (recomputed under FP8), then SwiGLU.
    if (S > 0) bytes += (p == Precision::fp8 ? 0.0 : l * D) + swiglu(S);
  }
  return bytes;
}

// CPU runtime: floats one micro-batch of n tokens leaves in a block's cache
// (model/transformer_block.h, attention_layer.h, moe_layer.h, router.h,
// token_dispatcher.h, parallel/expert_parallel_dispatcher.h). The cache is
// reused between micro-batches and keeps its backward scratch, so both count.
double cpu_block_floats(const ModelConfig& m, int64_t layer, double n, int64_t ep) {
  const double D = static_cast<double>(m.hidden), H = static_cast<double>(m.heads);
  const double hd = static_cast<double>(m.head_dim ? m.head_dim : m.hidden / m.heads);
  const double inner = H * hd;
  // Block: attn_in, attn_out, mid, ffn_in, ffn_out; two rstd; d_mid, d_norm.
  double f = 5.0 * n * D + 2.0 * n + 2.0 * n * D;
  // Attention: q, k, v, o; lse [batch, H, seq]; backward scratch dq, dk, dv, do.
  f += 4.0 * n * inner + n * H + 4.0 * n * inner;
  if (layer < m.first_dense_layers) {
    const double F = static_cast<double>(m.dense_ffn_hidden);
    f += 2.0 * n * F + n * F + 3.0 * n * F;  // gate_up, h, backward scratch
    return f;
  }
  const double E = static_cast<double>(m.experts), K = static_cast<double>(m.top_k);
  const double F = static_cast<double>(m.moe_ffn_hidden);
  const double S = static_cast<double>(m.shared_experts) * F;
  const double R = n * K;  // (token, slot) rows held here: all of them locally, n K on average under EP
  const double tg = static_cast<double>(m.topk_groups), ng = static_cast<double>(m.n_groups);
  // Router: logits, scores, biased, d_scores, d_logits (+ d_aux_scores) [n, E];
  // mask [n, E] bytes; expert ids, gates, d_weight [n, K]; normaliser; top-k and
  // group scratch.
  f += (m.aux_loss_alpha > 0 ? 6.0 : 5.0) * n * E + n * E / 4.0 + 3.0 * n * K + n +
       n * std::max(K, tg) + n * ng + n * tg;
  // Dispatch: rows [R, D]; row_of_pair, pair_of_row (int64).
  f += R * D + 4.0 * R;
  // Experts: out [R, D], gate/up [R, 2F], h [R, F]; backward d_out, d_rows [R, D],
  // scratch [R, 3F]; shared experts: gate/up [n, 2S], h [n, S], scratch [n, 3S].
  f += R * (D + 2.0 * F + F) + R * (2.0 * D + 3.0 * F) + n * (3.0 * S + 3.0 * S);
  if (ep > 1) {
    // Expert-parallel staging: send_buf and returned_out [n K, D], arrival_buf
    // [R, D], send_pos_of_pair [n K] and row_of_arrival [R] (int64).
    f += 2.0 * n * K * D + R * D + 2.0 * n * K + 2.0 * R;
  }
  return f;
}

bool splits_backward(ScheduleKind k) {
  return k == ScheduleKind::zb_h1 || k == ScheduleKind::dualpipe || k == ScheduleKind::dualpipe_v;
}

}  // namespace

double activation_bytes(const ModelConfig& m, const ClusterSpec& cluster, const ChunkShape& chunk,
                        const Layout& layout, Precision p, int64_t seq) {
  const double n = static_cast<double>(layout.micro_batch * seq);
  const double D = static_cast<double>(m.hidden), V = static_cast<double>(m.vocab_size);
  const StageLayers& s = chunk.span;
  if (cluster.gpu.kind == "cpu") {
    // TransformerStage::Cache: residual streams, d_a and d_b; the last stage's
    // final_in, final_rstd, logits, lse, d_logits, d_final; split backward's
    // gradient streams.
    double f = (static_cast<double>(s.count) + 1.0) * n * D + 2.0 * n * D;
    if (s.has_head) f += 2.0 * n * D + 2.0 * n + 2.0 * n * V;
    if (splits_backward(schedule_kind(layout))) f += (static_cast<double>(s.count) + 1.0) * n * D;
    for (int64_t l = s.first; l < s.end(); ++l)
      f += cpu_block_floats(m, l, n, layout.ep);
    return 4.0 * f;
  }
  const double a = p == Precision::f32 ? 4.0 : 2.0;
  double per_token = 0;
  for (int64_t l = s.first; l < s.end(); ++l) per_token += gpu_block_bytes(m, l, p, layout.recompute);
  if (s.has_embedding) per_token += 4.0;              // token ids
  if (s.has_head) per_token += a * D + 4.0 * V + 4.0;  // final norm input, fp32 logits for the loss
  return per_token * n;
}

// Full recomputation: the block being recomputed in a backward holds its whole
// activation set, once per rank (one backward runs at a time).
static double recompute_working_bytes(const ModelConfig& m, const RankShape& shape, const Layout& layout,
                               Precision p, int64_t seq) {
  double worst = 0;
  for (const auto& ch : shape.chunks)
    for (int64_t l = ch.span.first; l < ch.span.end(); ++l) worst = std::max(worst, gpu_block_bytes(m, l, p, false));
  return worst * static_cast<double>(layout.micro_batch * seq);
}

MemoryBreakdown rank_memory(const ModelConfig& m, const ClusterSpec& cluster, const Workload& work,
                            const Layout& layout, const std::vector<RankShape>& ranks, int rank,
                            const ScheduleInfo& info) {
  const Precision p = parse_precision(work.precision);
  const bool cpu = cluster.gpu.kind == "cpu";
  const RankShape& shape = ranks[static_cast<size_t>(rank)];
  const double dense = shape.dense_params(), experts = shape.expert_params();
  const double params = dense + experts;
  const double dp = static_cast<double>(layout.dp), edp = static_cast<double>(layout.dp / layout.ep);
  const bool zero1 = layout.zero_stage == 1;
  // Elements of this rank's optimizer shard.
  const double shard = zero1 ? dense / dp + experts / edp : params;

  MemoryBreakdown mem;
  // The CPU runtime keeps every parameter, gradient and moment in f32 whatever the
  // GEMMs' precision (bf16 and fp8 are emulated: operands rounded per GEMM).
  const Precision stored = cpu ? Precision::f32 : p;
  mem.weights = params * (stored == Precision::f32 ? 4.0 : 2.0);
  mem.gradients = params * 4.0;
  mem.master_weights = (stored == Precision::f32 && !zero1) ? 0.0 : shard * 4.0;
  mem.optimizer_states = shard * (stored == Precision::fp8 ? 4.0 : 8.0);

  // Activations: walk the rank's actions (see the header comment).
  const PipelineSchedule& s = *info.schedule;
  const size_t V = shape.chunks.size();
  std::vector<double> bytes(V);
  for (size_t c = 0; c < V; ++c) bytes[c] = activation_bytes(m, cluster, shape.chunks[c], layout, p, work.seq_len);
  std::vector<int> live(V, 0), peak(V, 0);
  double now = 0, peak_bytes = 0;
  int recvs = 0;
  for (const Action& act : s.actions(rank)) {
    const size_t c = static_cast<size_t>(act.chunk);
    if (act.kind == ActionKind::forward) {
      ++live[c];
      now += bytes[c];
      peak[c] = std::max(peak[c], live[c]);
      peak_bytes = std::max(peak_bytes, now);
    } else if (act.kind == ActionKind::backward || act.kind == ActionKind::backward_weight) {
      --live[c];
      now -= bytes[c];
    } else if (is_recv(act.kind)) {
      ++recvs;
    }
  }
  const double n = static_cast<double>(layout.micro_batch * work.seq_len);
  const double D = static_cast<double>(m.hidden);
  if (cpu) {
    for (size_t c = 0; c < V; ++c) mem.activations += peak[c] * bytes[c];
    // Receive buffers of the step (scaled from the simulated M to the real one)
    // and the per-micro-batch token buffers of the first and last stage.
    const double mb_scale = static_cast<double>(layout.microbatches) / info.simulated_microbatches;
    mem.comm_buffers += recvs * mb_scale * n * D * 4.0;
    for (size_t c = 0; c < V; ++c) {
      const double per_chunk_mbs = static_cast<double>(layout.microbatches) /
                                   (s.kind() == ScheduleKind::dualpipe ? 2.0 : 1.0);
      if (layout.pp > 1 && shape.chunks[c].span.has_embedding) mem.comm_buffers += per_chunk_mbs * n * 4.0;
      if (layout.pp > 1 && shape.chunks[c].span.has_head) mem.comm_buffers += per_chunk_mbs * n * 4.0;
    }
    if (zero1) mem.comm_buffers += shard * 4.0;
  } else {
    mem.activations = peak_bytes;
    if (layout.recompute) mem.activations += recompute_working_bytes(m, shape, layout, p, work.seq_len);
    const double a = p == Precision::f32 ? 4.0 : 2.0;
    if (layout.ep > 1 && shape.chunks.size() > 0) {
      const double disp = p == Precision::fp8 ? 1.0 + 4.0 / 128.0 : a;
      bool has_moe = false;
      for (const auto& ch : shape.chunks) has_moe = has_moe || ch.moe_layers > 0;
      if (has_moe) mem.comm_buffers += 2.0 * n * static_cast<double>(m.top_k) * D * (disp + a);
    }
    if (layout.pp > 1) mem.comm_buffers += 2.0 * static_cast<double>(V) * 2.0 * n * D * a;
  }
  mem.runtime_overhead = cluster.runtime_overhead_gb * 1e9;
  mem.data = work.data_bytes;
  return mem;
}

}  // namespace sadari::cost
