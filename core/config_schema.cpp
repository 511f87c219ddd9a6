#include "core/config_schema.h"

#include <charconv>
#include <cmath>

namespace sadari {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Range helpers, named by what they allow.
FieldRange any() { return {}; }
FieldRange at_least(double lo) { return {lo, kInf, false, false}; }
FieldRange above(double lo) { return {lo, kInf, true, false}; }
FieldRange closed(double lo, double hi) { return {lo, hi, false, false}; }
FieldRange right_open(double lo, double hi) { return {lo, hi, false, true}; }

std::string number_text(double v) {
  // Bounds are small round numbers; the shortest form reads best ("0.5", "1024").
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

// One row. The key path is spelled once: the macro turns `model, hidden` into both
// the string "model.hidden" and the accessor `&c.model.hidden`, so the YAML key can
// never drift from the member name.
#define SADARI_FIELD(section, key) \
  #section "." #key, [](Config& c) -> FieldRef { return &c.section.key; }

std::vector<FieldSpec> build_fields() {
  using V = std::vector<std::string>;
  return {
      // ---- model: architecture ----
      {SADARI_FIELD(model, name), any(), {}, true, "label for logs and plans"},
      {SADARI_FIELD(model, vocab_size), at_least(2), {}, false,
       "embedding rows; >= tokenizer vocabulary"},
      {SADARI_FIELD(model, hidden), at_least(1), {}, false, "d_model, width of the residual stream"},
      {SADARI_FIELD(model, layers), at_least(1), {}, false, "transformer blocks"},
      {SADARI_FIELD(model, heads), at_least(1), {}, false, "attention (query) heads"},
      {SADARI_FIELD(model, kv_heads), at_least(0), {}, false,
       "mha key/value heads; 0 = heads; fewer = grouped-query attention"},
      {SADARI_FIELD(model, head_dim), at_least(0), {}, false, "mha per-head width; 0 = hidden / heads"},
      {SADARI_FIELD(model, max_seq_len), at_least(1), {}, false, "longest sequence the model is built for"},
      {SADARI_FIELD(model, attention), any(), V{"mha", "mla"}, false,
       "mha = multi-head; mla = multi-head latent (DeepSeek-V2/V3)"},
      {SADARI_FIELD(model, q_lora_rank), at_least(0), {}, false, "mla: query compression rank; 0 = none"},
      {SADARI_FIELD(model, kv_lora_rank), at_least(0), {}, false, "mla: key/value latent rank"},
      {SADARI_FIELD(model, qk_nope_head_dim), at_least(0), {}, false,
       "mla: per-head query/key width without RoPE"},
      {SADARI_FIELD(model, qk_rope_head_dim), at_least(0), {}, false,
       "mla: per-head query/key width carrying RoPE"},
      {SADARI_FIELD(model, v_head_dim), at_least(0), {}, false, "mla: per-head value width"},
      {SADARI_FIELD(model, rope_theta), above(0), {}, false, "RoPE base frequency"},
      {SADARI_FIELD(model, norm_eps), above(0), {}, false, "RMSNorm epsilon"},
      {SADARI_FIELD(model, init_std), above(0), {}, false, "std of the normal weight initialisation"},
      {SADARI_FIELD(model, dense_ffn_hidden), at_least(1), {}, false,
       "SwiGLU width of the dense (non-MoE) blocks"},
      {SADARI_FIELD(model, first_dense_layers), at_least(0), {}, false,
       "leading blocks with a dense FFN; the rest are MoE"},
      {SADARI_FIELD(model, experts), at_least(1), {}, false, "routed experts per MoE layer"},
      {SADARI_FIELD(model, moe_ffn_hidden), at_least(1), {}, false, "SwiGLU width of one expert"},
      {SADARI_FIELD(model, shared_experts), at_least(0), {}, false,
       "always-active experts, each moe_ffn_hidden wide"},
      {SADARI_FIELD(model, top_k), at_least(1), {}, false, "routed experts per token"},
      {SADARI_FIELD(model, score_func), any(), V{"softmax", "sigmoid"}, false,
       "router affinity function"},
      {SADARI_FIELD(model, n_groups), at_least(1), {}, false,
       "expert groups for group-limited routing"},
      {SADARI_FIELD(model, topk_groups), at_least(1), {}, false, "groups one token may route to"},
      {SADARI_FIELD(model, norm_topk_prob), any(), {}, false,
       "renormalise the top_k gate weights to sum to 1"},
      {SADARI_FIELD(model, routed_scaling_factor), above(0), {}, false,
       "multiplier on the routed experts' output"},
      {SADARI_FIELD(model, bias_update_speed), at_least(0), {}, false,
       "aux-loss-free balancing step (gamma); 0 = off"},
      {SADARI_FIELD(model, aux_loss_alpha), at_least(0), {}, false,
       "weight of the auxiliary balance loss; 0 = off"},

      // ---- parallel: layout (world = pp * dp) ----
      {SADARI_FIELD(parallel, pp), at_least(1), {}, false, "pipeline stages"},
      {SADARI_FIELD(parallel, dp), at_least(1), {}, false, "data-parallel replicas"},
      {SADARI_FIELD(parallel, ep), at_least(1), {}, false, "expert-parallel degree; divides dp"},
      {SADARI_FIELD(parallel, zero_stage), at_least(0), {}, false,
       "0: optimizer state replicated; 1: sharded over the data-parallel group (ZeRO-1)"},
      {SADARI_FIELD(parallel, bucket_mb), above(0), {}, false,
       "gradient reduction bucket size in MiB"},
      {SADARI_FIELD(parallel, comm_timeout_s), above(0), {}, false,
       "seconds a collective may take before the job is ended with a message"},
      {SADARI_FIELD(parallel, capacity_factor), at_least(0), {}, false,
       "expert capacity as a multiple of the mean load; 0 = dropless"},
      {SADARI_FIELD(parallel, ranks_per_node), at_least(0), {}, false,
       "ranks per node (0: from the launcher); used by node-limited routing"},
      {SADARI_FIELD(parallel, max_nodes_per_token), at_least(0), {}, false,
       "node-limited routing: a token's experts lie on at most this many nodes; 0 = off"},
      {SADARI_FIELD(parallel, expert_slots), at_least(0), {}, false,
       "expert slots per ep rank; 0 = experts / ep; more = replicas of hot experts"},
      {SADARI_FIELD(parallel, expert_policy), any(), V{"identity", "greedy", "global", "hierarchical"},
       false, "expert placement policy used when rebalancing"},
      {SADARI_FIELD(parallel, rebalance_every), at_least(0), {}, false,
       "steps between expert placement recomputations from the load EMA; 0 = never"},
      {SADARI_FIELD(parallel, rebalance_decay), right_open(0, 1), {}, false,
       "EMA factor of the per-expert load counts used by rebalancing"},
      {SADARI_FIELD(parallel, schedule), any(),
       V{"gpipe", "1f1b", "interleaved", "zb-h1", "dualpipe", "dualpipev"}, false,
       "pipeline schedule"},
      {SADARI_FIELD(parallel, chunks), at_least(1), {}, false,
       "model chunks per pipeline rank: 1, or 2+ for interleaved; 2 for dualpipe/dualpipev"},
      {SADARI_FIELD(parallel, stage_layers), any(), {}, false,
       "layers per pipeline stage, comma-separated (\"3,5\"); empty = balanced by cost"},
      {SADARI_FIELD(parallel, auto_plan), any(), {}, false,
       "plan the layout and train.micro_batch for the world size (`parallel: auto`)"},
      {SADARI_FIELD(parallel, cluster), any(), {}, true,
       "auto_plan: cluster description (configs/clusters/*.yaml) to plan on"},

      // ---- train: the loop ----
      {SADARI_FIELD(train, steps), at_least(1), {}, false, "optimizer steps"},
      {SADARI_FIELD(train, global_batch), at_least(1), {}, false, "sequences per optimizer step"},
      {SADARI_FIELD(train, micro_batch), at_least(1), {}, false,
       "sequences per forward/backward; divides global_batch"},
      {SADARI_FIELD(train, seq_len), at_least(1), {}, false, "tokens per sequence; <= model.max_seq_len"},
      {SADARI_FIELD(train, seed), any(), {}, false, "parameters and data order"},
      {SADARI_FIELD(train, precision), any(), V{"f32", "bf16", "fp8"}, false,
       "GEMM precision of the linear layers: f32, bf16 (emulated on CPU) or fp8 (DeepSeek-V3 recipe)"},
      {SADARI_FIELD(train, eval_every), at_least(0), {}, false,
       "steps between validation passes; 0 = only at the end"},
      {SADARI_FIELD(train, eval_batches), at_least(1), {}, false, "micro-batches per validation pass"},
      {SADARI_FIELD(train, threads), at_least(0), {}, false, "OpenMP threads; 0 = all cores"},

      // ---- optim: AdamW and the learning-rate schedule ----
      {SADARI_FIELD(optim, lr), above(0), {}, false, "peak learning rate"},
      {SADARI_FIELD(optim, min_lr), at_least(0), {}, false, "final learning rate; <= lr"},
      {SADARI_FIELD(optim, warmup_steps), at_least(0), {}, false, "linear warm-up steps; <= train.steps"},
      {SADARI_FIELD(optim, schedule), any(), V{"cosine", "wsd", "constant"}, false,
       "decay after warm-up"},
      {SADARI_FIELD(optim, wsd_decay_fraction), closed(0, 1), {}, false,
       "wsd: share of steps spent decaying at the end"},
      {SADARI_FIELD(optim, beta1), right_open(0, 1), {}, false, "AdamW first-moment decay"},
      {SADARI_FIELD(optim, beta2), right_open(0, 1), {}, false, "AdamW second-moment decay"},
      {SADARI_FIELD(optim, eps), above(0), {}, false, "AdamW denominator epsilon"},
      {SADARI_FIELD(optim, weight_decay), at_least(0), {}, false, "decoupled weight decay"},
      {SADARI_FIELD(optim, grad_clip), at_least(0), {}, false, "max global gradient L2 norm; 0 = off"},

      // ---- data ----
      {SADARI_FIELD(data, source), any(), V{"synthetic", "shards"}, false,
       "synthetic = built-in Markov corpus; shards = token files"},
      {SADARI_FIELD(data, train_path), any(), {}, false, "shards: training token shard"},
      {SADARI_FIELD(data, val_path), any(), {}, false,
       "validation token shard; empty = split off val_fraction"},
      {SADARI_FIELD(data, val_fraction), closed(0, 0.5), {}, false,
       "share held out for validation when val_path is empty"},
      {SADARI_FIELD(data.synthetic, seed), any(), {}, false, "corpus seed (independent of train.seed)"},
      // At most 62: data/markov_source.h maps symbols to the characters a-z, A-Z, 0-9.
      {SADARI_FIELD(data.synthetic, symbols), closed(2, 62), {}, false, "alphabet size (a-z, A-Z, 0-9)"},
      {SADARI_FIELD(data.synthetic, order), closed(1, 4), {}, false, "Markov order (context length)"},
      {SADARI_FIELD(data.synthetic, concentration), above(0), {}, false,
       "Dirichlet concentration; small = predictable text"},
      {SADARI_FIELD(data.synthetic, tokens), at_least(1024), {}, false, "corpus length in tokens"},

      // ---- checkpoint ----
      {SADARI_FIELD(checkpoint, dir), any(), {}, true, "where checkpoints are written"},
      {SADARI_FIELD(checkpoint, every), at_least(0), {}, false, "steps between saves (and at the end); 0 = off"},
      {SADARI_FIELD(checkpoint, keep), at_least(1), {}, false, "most recent checkpoints kept"},
      {SADARI_FIELD(checkpoint, resume), any(), {}, false, "resume from DIR, a root or latest; empty = fresh"},

      // ---- logging ----
      {SADARI_FIELD(logging, run_dir), any(), {}, true, "resolved config, metrics and logs go here"},
      {SADARI_FIELD(logging, log_every), at_least(1), {}, false, "steps between log lines"},
      {SADARI_FIELD(logging, progress), any(), V{"auto", "bar", "plain", "none"}, false,
       "terminal output style; auto = bar on a terminal"},
      {SADARI_FIELD(logging, jsonl), any(), {}, false, "append metrics to run_dir/metrics.jsonl"},
  };
}

#undef SADARI_FIELD

std::vector<std::string> build_sections(const std::vector<FieldSpec>& fields) {
  // Every proper prefix of a key path is a section; keep first-appearance order.
  std::vector<std::string> out;
  for (const auto& f : fields) {
    for (size_t dot = f.path.find('.'); dot != std::string::npos; dot = f.path.find('.', dot + 1)) {
      std::string s = f.path.substr(0, dot);
      bool seen = false;
      for (const auto& o : out) seen = seen || o == s;
      if (!seen) out.push_back(s);
    }
  }
  return out;
}

}  // namespace

bool FieldRange::contains(double v) const {
  if (std::isnan(v)) return false;
  if (lo_open ? !(v > lo) : !(v >= lo)) return false;
  if (hi_open ? !(v < hi) : !(v <= hi)) return false;
  return true;
}

std::string FieldRange::describe() const {
  bool has_lo = std::isfinite(lo), has_hi = std::isfinite(hi);
  if (has_lo && has_hi)
    return "in " + std::string(lo_open ? "(" : "[") + number_text(lo) + ", " + number_text(hi) +
           (hi_open ? ")" : "]");
  if (has_lo) return (lo_open ? "> " : ">= ") + number_text(lo);
  if (has_hi) return (hi_open ? "< " : "<= ") + number_text(hi);
  return "any number";
}

std::string_view FieldSpec::key() const {
  std::string_view p = path;
  return p.substr(p.rfind('.') + 1);
}

std::string_view FieldSpec::section() const {
  std::string_view p = path;
  return p.substr(0, p.rfind('.'));
}

const char* FieldSpec::type_name() const {
  Config probe;
  switch (ref(probe).index()) {
    case 0: return "an integer";
    case 1: return "a non-negative integer";
    case 2: return "a number";
    case 3: return "true or false";
    default: return "a string";
  }
}

const std::vector<FieldSpec>& config_fields() {
  static const std::vector<FieldSpec> fields = build_fields();
  return fields;
}

const FieldSpec* find_field(std::string_view path) {
  for (const auto& f : config_fields())
    if (f.path == path) return &f;
  return nullptr;
}

const std::vector<std::string>& config_sections() {
  static const std::vector<std::string> sections = build_sections(config_fields());
  return sections;
}

bool is_config_section(std::string_view path) {
  for (const auto& s : config_sections())
    if (s == path) return true;
  return false;
}

std::vector<std::string> section_children(std::string_view section) {
  std::vector<std::string> out;
  for (const auto& f : config_fields())
    if (f.section() == section) out.emplace_back(f.key());
  for (const auto& s : config_sections()) {
    std::string_view sv = s;
    size_t dot = sv.rfind('.');
    std::string_view parent = dot == std::string_view::npos ? std::string_view{} : sv.substr(0, dot);
    if (parent == section) out.emplace_back(dot == std::string_view::npos ? sv : sv.substr(dot + 1));
  }
  return out;
}

}  // namespace sadari
