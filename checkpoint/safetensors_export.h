// Export of a checkpoint's model weights as one Hugging Face safetensors file,
// with tensor names following DeepSeek-V3's (docs/checkpoints.md lists the map):
//
//   embed.weight                    -> model.embed_tokens.weight
//   blocks.L.attn_norm.weight       -> model.layers.L.input_layernorm.weight
//   blocks.L.attn.{wq,wk,wv,wo}     -> model.layers.L.self_attn.{q,k,v,o}_proj.weight
//   blocks.L.ffn_norm.weight        -> model.layers.L.post_attention_layernorm.weight
//   blocks.L.ffn.gate_up            -> model.layers.L.mlp.{gate,up}_proj.weight (rows split)
//   blocks.L.ffn.down               -> model.layers.L.mlp.down_proj.weight
//   blocks.L.moe.router.weight      -> model.layers.L.mlp.gate.weight
//   blocks.L.moe.router.bias        -> model.layers.L.mlp.gate.e_score_correction_bias
//   blocks.L.moe.experts.E.gate_up  -> model.layers.L.mlp.experts.E.{gate,up}_proj.weight
//   blocks.L.moe.experts.E.down     -> model.layers.L.mlp.experts.E.down_proj.weight
//   blocks.L.moe.shared.gate_up     -> model.layers.L.mlp.shared_experts.{gate,up}_proj.weight
//   blocks.L.moe.shared.down        -> model.layers.L.mlp.shared_experts.down_proj.weight
//   final_norm.weight               -> model.norm.weight
//   head.weight                     -> lm_head.weight
// sadari stores linear weights [out, in] like Hugging Face, so no transposes;
// fused gate_up [2F, D] holds gate in rows [0, F) and up in [F, 2F). DeepSeek-V3
// itself uses multi-head latent attention; sadari's trainable attention is
// multi-head, whose projections get the q/k/v/o_proj names of DeepSeek's MHA
// relatives (DeepSeek-LLM, Llama).
//
// File format (safetensors): u64 little-endian header length N, N bytes of JSON
// {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}},
// padded with spaces to a multiple of 8, then the data. Written to OUT.tmp,
// fsynced and renamed: a failure never leaves a half-written OUT.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "checkpoint/checkpoint_reader.h"
#include "core/dtype.h"

namespace sadari {

// One exported tensor: a Hugging Face name and the rows [row_begin, row_end) of
// a sadari parameter (all rows for most; half of a fused gate_up).
struct ExportedTensor {
  std::string hf_name;
  int64_t row_begin = 0, row_end = 0;
};

// The Hugging Face tensors one sadari parameter becomes (shape: its shape).
// Throws Error for a name outside the map above.
std::vector<ExportedTensor> hf_names_for(const std::string& sadari_name,
                                         const std::vector<int64_t>& shape);

struct ExportSummary {
  int64_t tensors = 0;
  uint64_t bytes = 0;
};

// Writes the model weights ("param/..." tensors) of `checkpoint` to `out` in
// `dtype` (f32 or bf16, rounded to nearest even). Throws Error naming the tensor
// or file on failure; `out` is untouched then.
ExportSummary export_safetensors(const CheckpointReader& checkpoint, const std::string& out,
                                 DType dtype = DType::f32, FileSystem* fs = nullptr);

}  // namespace sadari
