// Stage partitioning: which contiguous layers each pipeline stage runs.
//
// The model's blocks 0..layers-1 are split into `stages` contiguous ranges in
// pipeline order (stage 0 first). Stage 0 also runs the embedding, the last
// stage the final norm, the head and the loss. How the stages map to pp ranks
// (one per rank, interleaved chunks, V shape) is the schedule's business
// (parallel/pipeline_schedule.h); here a stage is just a position in the pipe.
//
// Balanced split: each block gets an estimated forward cost per token (FLOPs:
// attention projections and scores, dense SwiGLU or MoE router + active experts;
// an MoE block with top_k + shared experts of moe_ffn_hidden costs more than a
// dense one), the embedding's cost is added to stage 0 and the head + loss cost
// to the last stage, and the split minimises the largest stage cost (ties: the
// earliest boundaries), every stage getting at least one layer. An explicit
// parallel.stage_layers overrides it (validated by the config loader: one count
// per stage, each >= 1, summing to model.layers).
//
// Pure computation, no communication; throws Error for impossible requests.
#pragma once

#include <cstdint>
#include <vector>

#include "core/config.h"
#include "core/stage_span.h"

namespace sadari {

// A stage: blocks [first, first + count), with the embedding (first stage) and
// the head (last stage); model/transformer_stage.h runs it. Plain data
// (core/stage_span.h), so the planner plans stages without linking the model.
using StageLayers = StageSpan;

// Estimated forward FLOPs per token of block `layer` at sequence length `seq`.
double block_cost(const ModelConfig& model, int64_t layer, int64_t seq);
// The embedding lookup (stage 0) and the final norm + head + cross-entropy (last stage).
double embedding_cost(const ModelConfig& model);
double head_cost(const ModelConfig& model);

// Contiguous split of the layers into `stages` stages minimising the largest
// stage cost. Throws Error when stages < 1 or stages > model.layers.
std::vector<StageLayers> balanced_stages(const ModelConfig& model, int64_t stages, int64_t seq);

// Stages from explicit per-stage layer counts. Throws Error (where:
// parallel.stage_layers) when a count is < 1 or the counts do not sum to layers.
std::vector<StageLayers> stages_from_counts(const std::vector<int64_t>& counts, int64_t layers);

// What a run uses: parallel.stage_layers when set, else balanced_stages over
// parallel.pipeline_stages() stages at train.seq_len.
std::vector<StageLayers> partition_stages(const Config& cfg);

// The estimated cost of each stage (embedding and head included), for reports.
double stage_cost(const ModelConfig& model, const StageLayers& stage, int64_t seq);

}  // namespace sadari
