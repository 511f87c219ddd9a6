// Parameters and FLOPs of a model (cost_model.h: model_cost), block by block.
//
// Parameters, per block (D hidden, H heads, F sizes of the FFNs):
//   norms            2 D (attention and FFN RMSNorm weights)
//   attention, mha   wq [H hd, D], wk and wv [kv hd, D], wo [D, H hd]   (hd = head_dim,
//                    kv = kv_heads; the CPU runtime has kv = H)
//   attention, mla   (DeepSeek-V2/V3) q: wq_a [q_lora, D] + q_norm [q_lora] +
//                    wq_b [H (nope + rope), q_lora], or wq [H (nope + rope), D] without
//                    q_lora; kv: wkv_a [kv_lora + rope, D] + kv_norm [kv_lora] +
//                    wkv_b [H (nope + v), kv_lora]; wo [D, H v]
//   dense FFN        SwiGLU: gate_up [2 F, D] + down [D, F] = 3 D F
//   MoE              router [E, D] + its bias [E] (not trained: the aux-loss-free
//                    balance), shared experts 3 D (shared x F_moe), routed experts
//                    E x 3 D F_moe
// plus embedding [V, D], final norm [D] and head [V, D] (untied).
// Active parameters: everything except the routed experts, plus top_k of them per
// MoE block (what one token touches; the embedding counts, as in DeepSeek's 37B).
//
// Forward FLOPs per token (2 per multiply-add):
//   dense       2 x the weights of every matmul a token passes (projections, dense
//               FFN, shared experts, router, head); the embedding lookup is free
//   attention   scores and weighted values over the causal half: a query at
//               position i sees i + 1 keys, (seq + 1) / 2 on average, so
//               2 x H x (qk_dim + v_dim) x (seq + 1) / 2 per layer
//   moe         2 x top_k x 3 D F_moe per MoE block
// The conventions match the model's own count (TransformerBlock::
// forward_flops_per_token; tests/planner compare them).
#include <cmath>

#include "parallel/planner/cost_parts.h"

namespace sadari {
namespace cost {

namespace {

struct AttentionCost {
  double params, flops_proj, flops_core, flops_up = 0;
};

AttentionCost attention_cost(const ModelConfig& m, int64_t seq) {
  const double D = static_cast<double>(m.hidden), H = static_cast<double>(m.heads);
  const double keys = (static_cast<double>(seq) + 1.0) / 2.0;
  if (m.attention == "mla") {
    const double qk = static_cast<double>(m.qk_nope_head_dim + m.qk_rope_head_dim);
    const double v = static_cast<double>(m.v_head_dim);
    const double ql = static_cast<double>(m.q_lora_rank), kvl = static_cast<double>(m.kv_lora_rank);
    const double rope = static_cast<double>(m.qk_rope_head_dim);
    const double nope = static_cast<double>(m.qk_nope_head_dim);
    double matmul = 0, norms = 0, up = kvl * H * (nope + v);
    if (m.q_lora_rank > 0) {
      matmul += D * ql + ql * H * qk;
      norms += ql;
      up += ql * H * qk;
    } else {
      matmul += D * H * qk;
    }
    matmul += D * (kvl + rope) + kvl * H * (nope + v) + H * v * D;
    norms += kvl;
    return {matmul + norms, 2.0 * matmul, 2.0 * H * (qk + v) * keys, 2.0 * up};
  }
  const double hd = static_cast<double>(m.head_dim ? m.head_dim : m.hidden / m.heads);
  const double kv = static_cast<double>(m.kv_heads ? m.kv_heads : m.heads);
  const double matmul = 2.0 * D * H * hd + 2.0 * D * kv * hd;
  return {matmul, 2.0 * matmul, 2.0 * H * 2.0 * hd * keys};
}

}  // namespace

BlockCost block_cost_of(const ModelConfig& m, int64_t layer, int64_t seq) {
  const double D = static_cast<double>(m.hidden);
  const AttentionCost a = attention_cost(m, seq);
  BlockCost b;
  b.moe = layer >= m.first_dense_layers;
  b.dense_params = 2.0 * D + a.params;
  b.gemm_flops = a.flops_proj;
  b.attention_flops = a.flops_core;
  b.up_projection_flops = a.flops_up;
  if (!b.moe) {
    const double ffn = 3.0 * D * static_cast<double>(m.dense_ffn_hidden);
    b.dense_params += ffn;
    b.gemm_flops += 2.0 * ffn;
  } else {
    const double E = static_cast<double>(m.experts), F = static_cast<double>(m.moe_ffn_hidden);
    const double shared = 3.0 * D * static_cast<double>(m.shared_experts) * F;
    b.dense_params += E * D + E + shared;
    b.gemm_flops += 2.0 * E * D + 2.0 * shared;
    b.expert_params = E * 3.0 * D * F;
    b.expert_flops = 2.0 * static_cast<double>(m.top_k) * 3.0 * D * F;
  }
  return b;
}

double embedding_params(const ModelConfig& m) {
  return static_cast<double>(m.vocab_size) * static_cast<double>(m.hidden);
}
double head_params(const ModelConfig& m) {
  return static_cast<double>(m.hidden) + static_cast<double>(m.vocab_size) * static_cast<double>(m.hidden);
}
double head_flops(const ModelConfig& m) {
  return 2.0 * static_cast<double>(m.vocab_size) * static_cast<double>(m.hidden);
}

Precision parse_precision(const std::string& name) {
  if (name == "f32") return Precision::f32;
  if (name == "fp8") return Precision::fp8;
  return Precision::bf16;
}

}  // namespace cost

ModelCost model_cost(const ModelConfig& m, int64_t seq_len) {
  ModelCost c;
  c.embedding_params = cost::embedding_params(m) + cost::head_params(m);
  c.total_params = c.embedding_params;
  c.active_params = c.embedding_params;
  c.forward_flops_dense = cost::head_flops(m);
  for (int64_t l = 0; l < m.layers; ++l) {
    const cost::BlockCost b = cost::block_cost_of(m, l, seq_len);
    c.total_params += b.dense_params + b.expert_params;
    c.expert_params += b.expert_params;
    c.active_params += b.dense_params;
    if (b.moe)
      c.active_params += b.expert_params * static_cast<double>(m.top_k) / static_cast<double>(m.experts);
    c.forward_flops_dense += b.gemm_flops;
    c.forward_flops_attention += b.attention_flops;
    c.forward_flops_moe += b.expert_flops;
  }
  return c;
}

}  // namespace sadari
