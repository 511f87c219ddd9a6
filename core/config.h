// Typed run configuration: what a YAML file under configs/ resolves to.
//
// Loading (core/config_load.h) fills these structs from YAML, applies `--set`
// overrides and validates everything before any work starts; every error names
// the file, line and key path. Defaults here are the values a key takes when the
// YAML omits it; `sadari config FILE` prints the fully resolved result.
// Field names equal the YAML keys (section.key).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sadari {

struct ModelConfig {
  std::string name = "tiny-moe";
  int64_t vocab_size = 264;       // >= tokenizer vocabulary (256 bytes + specials)
  int64_t hidden = 64;            // d_model
  int64_t layers = 4;
  int64_t heads = 4;
  int64_t kv_heads = 0;           // key/value heads (mha); 0: heads. Fewer: grouped-query attention
  int64_t head_dim = 0;           // 0: hidden / heads (which must then divide)
  int64_t max_seq_len = 256;
  std::string attention = "mha";  // mha | mla (mla: sized by the planner, not trainable yet)
  // Multi-head latent attention (DeepSeek-V2/V3); used when attention == "mla".
  int64_t q_lora_rank = 0;
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;
  double rope_theta = 10000.0;
  double norm_eps = 1e-6;
  double init_std = 0.02;
  // Feed-forward: the first `first_dense_layers` blocks use a dense SwiGLU FFN,
  // the rest an MoE layer.
  int64_t dense_ffn_hidden = 256;
  int64_t first_dense_layers = 1;
  // MoE.
  int64_t experts = 8;             // routed experts
  int64_t moe_ffn_hidden = 64;     // per-expert intermediate size
  int64_t shared_experts = 1;      // each of moe_ffn_hidden; fused into one SwiGLU
  int64_t top_k = 2;
  std::string score_func = "softmax";  // softmax | sigmoid
  int64_t n_groups = 1;                // expert groups for group-limited routing
  int64_t topk_groups = 1;             // groups a token may route to
  bool norm_topk_prob = true;          // renormalise the k selected weights to sum 1
  double routed_scaling_factor = 1.0;
  double bias_update_speed = 0.001;    // gamma of aux-loss-free balancing; 0 disables
  double aux_loss_alpha = 0.0;         // sequence-wise auxiliary loss weight; 0 disables

  bool operator==(const ModelConfig&) const = default;
};

struct ParallelConfig {
  int64_t pp = 1;  // pipeline stages
  int64_t dp = 1;  // data-parallel replicas
  int64_t ep = 1;  // expert-parallel degree; divides dp
  int64_t zero_stage = 1;       // 0: replicated optimizer state; 1: sharded over the group (ZeRO-1)
  double bucket_mb = 16;        // gradient reduction bucket size (MiB of f32)
  double comm_timeout_s = 300;  // a collective not done by then ends the job, naming rank and call
  double capacity_factor = 0;   // 0: dropless; > 0: per-expert capacity = factor * mean load
  int64_t ranks_per_node = 0;   // 0: from the launcher (local size); for node-limited routing
  int64_t max_nodes_per_token = 0;  // node-limited routing: experts on at most M nodes; 0 = off
  // Expert placement and online rebalancing (parallel/expert_migration.h).
  int64_t expert_slots = 0;          // expert slots per ep rank; 0 = experts / ep (no replicas)
  std::string expert_policy = "global";  // identity | greedy | global | hierarchical
  int64_t rebalance_every = 0;       // steps between placement recomputations; 0 = never
  double rebalance_decay = 0.9;      // EMA factor of the per-expert load counts
  // Pipeline (parallel/pipeline_schedule.h, parallel/stage_partition.h).
  std::string schedule = "1f1b";  // gpipe | 1f1b | interleaved | zb-h1 | dualpipe | dualpipev
  int64_t chunks = 1;             // model chunks per pp rank (2 for interleaved/V schedules)
  // Layers per pipeline stage, comma-separated ("3,5"), one entry per stage in
  // pipeline order; empty: balanced by estimated cost.
  std::string stage_layers;
  // `parallel: auto` (a scalar in place of the section) or auto_plan: true: before
  // training, the planner (parallel/planner/layout_search.h, resolved in apps/)
  // chooses pp, dp, ep, schedule, chunks, zero_stage and train.micro_batch for the
  // running world size on `cluster`; it replaces those keys' values (stage_layers
  // is cleared) and prints the chosen layout. The run directory's config.yaml
  // records the resolved layout with auto_plan false.
  bool auto_plan = false;
  std::string cluster = "configs/clusters/cpu-box.yaml";  // cluster description for auto_plan

  // Pipeline stages the layers are split into: pp * chunks, except DualPipe,
  // whose rank r holds stages r and pp-1-r (two copies of each stage, pp stages).
  int64_t pipeline_stages() const { return schedule == "dualpipe" ? pp : pp * chunks; }
  // stage_layers as numbers ("3, 5" -> {3, 5}); empty when stage_layers is empty.
  // Throws Error (where: "parallel.stage_layers") when an entry is not a whole number.
  std::vector<int64_t> stage_layer_counts() const;

  bool operator==(const ParallelConfig&) const = default;
};

struct TrainConfig {
  int64_t steps = 300;
  int64_t global_batch = 16;  // sequences per optimizer step (independent of dp)
  int64_t micro_batch = 8;    // sequences per forward/backward; divides global_batch
  int64_t seq_len = 64;       // <= model.max_seq_len
  uint64_t seed = 1234;       // parameters and data order
  std::string precision = "f32";  // f32 | bf16 | fp8 (model/compute_precision.h)
  int64_t eval_every = 50;        // steps between validation passes; 0: only at the end
  int64_t eval_batches = 4;       // micro-batches per validation pass
  int64_t threads = 0;            // OpenMP threads; 0: all cores

  bool operator==(const TrainConfig&) const = default;
};

struct OptimConfig {
  double lr = 3e-3;
  double min_lr = 3e-4;
  int64_t warmup_steps = 20;
  std::string schedule = "cosine";  // cosine | wsd | constant
  double wsd_decay_fraction = 0.2;  // WSD: share of steps spent decaying at the end
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.1;
  double grad_clip = 1.0;  // global L2 norm; 0 disables

  bool operator==(const OptimConfig&) const = default;
};

struct SyntheticConfig {
  uint64_t seed = 7;           // the corpus itself (independent of train.seed)
  int64_t symbols = 16;        // alphabet size of the Markov source
  int64_t order = 2;           // Markov order (context length)
  double concentration = 0.3;  // Dirichlet concentration of next-symbol distributions
  int64_t tokens = 1 << 20;    // corpus length

  bool operator==(const SyntheticConfig&) const = default;
};

struct DataConfig {
  std::string source = "synthetic";  // synthetic | shards
  std::string train_path;            // source == shards: token shard for training
  std::string val_path;              // optional; empty: split off val_fraction of train
  double val_fraction = 0.05;
  SyntheticConfig synthetic;

  bool operator==(const DataConfig&) const = default;
};

struct CheckpointConfig {
  std::string dir = "checkpoints";  // the root: step-NNNNNNNN/ directories and `latest`
  int64_t every = 0;  // steps between saves (and one at the end); 0 disables
  int64_t keep = 3;   // complete checkpoints kept; older ones are removed after a save
  // Resume from a checkpoint directory, a root, or "latest" (= dir's latest);
  // empty: start from scratch. `sadari train --resume X` sets it.
  std::string resume;

  bool operator==(const CheckpointConfig&) const = default;
};

struct LoggingConfig {
  std::string run_dir = "runs/tiny-moe";
  int64_t log_every = 10;
  std::string progress = "auto";  // auto | bar | plain | none
  bool jsonl = true;              // append metrics to run_dir/metrics.jsonl

  bool operator==(const LoggingConfig&) const = default;
};

struct Config {
  ModelConfig model;
  ParallelConfig parallel;
  TrainConfig train;
  OptimConfig optim;
  DataConfig data;
  CheckpointConfig checkpoint;
  LoggingConfig logging;

  // Where each key came from: "configs/tiny-moe.yaml:12" or "--set" (key path ->
  // location). Filled by the loader; used to name the place in later errors.
  std::map<std::string, std::string> origin;
  // "file:line key" for a key path if known, else the key path alone.
  std::string where(const std::string& key_path) const;

  int64_t head_dim() const { return model.head_dim ? model.head_dim : model.hidden / model.heads; }
  int64_t kv_heads() const { return model.kv_heads ? model.kv_heads : model.heads; }

  // Equal settings; `origin` (where they came from) is not compared.
  bool same_settings(const Config& o) const {
    return model == o.model && parallel == o.parallel && train == o.train && optim == o.optim &&
           data == o.data && checkpoint == o.checkpoint && logging == o.logging;
  }
};

}  // namespace sadari
