#include "apps/plan_apply.h"

#include <cstdio>

#include "apps/trainer.h"
#include "core/config_load.h"
#include "core/error.h"
#include "parallel/planner/layout_search.h"
#include "parallel/planner/plan_artifact.h"
#include "parallel/planner/plan_explain.h"

namespace sadari {

namespace {

using detail::cat;

std::string gb_text(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", bytes / 1e9);
  return buf;
}

}  // namespace

Workload workload_from_config(const Config& cfg, const ClusterSpec& cluster) {
  Workload w;
  w.global_batch = cfg.train.global_batch;
  w.seq_len = cfg.train.seq_len;
  w.precision = cfg.train.precision;
  // The Dataset keeps a synthetic corpus as int32 tokens in every process.
  if (cluster.gpu.kind == "cpu" && cfg.data.source == "synthetic")
    w.data_bytes = 4.0 * static_cast<double>(cfg.data.synthetic.tokens);
  return w;
}

void apply_layout(const Layout& l, Config& cfg, const std::string& where) {
  if (l.recompute)
    fail(cat("layout ", l.describe(), " recomputes activations; this trainer keeps them"), where,
         "make the plan with `sadari plan ... --no-recompute`");
  ParallelConfig& p = cfg.parallel;
  p.pp = l.pp;
  p.dp = l.dp;
  p.ep = l.ep;
  p.schedule = l.schedule;
  p.chunks = l.chunks;
  p.zero_stage = l.zero_stage;
  p.stage_layers.clear();
  p.auto_plan = false;
  cfg.train.micro_batch = l.micro_batch;
}

std::string apply_plan_file(const std::string& path, Config& cfg, int world_size) {
  const plan::Plan p = read_plan_file(path);
  const char* hint_plan = "make a plan for this config: sadari plan CONFIG CLUSTER --output FILE";
  if (p.model_name() != cfg.model.name)
    fail(cat("the plan is for model '", p.model_name(), "', the config trains '", cfg.model.name, "'"),
         path, cat(hint_plan, " (model.name is set at ", cfg.where("model.name"), ")"));
  if (p.world_size() != world_size)
    fail(cat("the plan is for ", p.world_size(), " processes (pp ", p.layout().pp(), " x dp ",
             p.layout().dp(), "), this job has ", world_size),
         path,
         cat("start the job with mpirun -np ", p.world_size(), ", or plan with --gpus ", world_size));
  const Workload w = workload_from_plan(p);
  if (w.global_batch != cfg.train.global_batch)
    fail(cat("the plan is for a global batch of ", w.global_batch, ", the config has ",
             cfg.train.global_batch, " (", cfg.where("train.global_batch"), ")"),
         path, cat("plan with --global-batch ", cfg.train.global_batch));
  if (w.seq_len != cfg.train.seq_len)
    fail(cat("the plan is for seq_len ", w.seq_len, ", the config has ", cfg.train.seq_len, " (",
             cfg.where("train.seq_len"), ")"),
         path, cat("plan with --seq-len ", cfg.train.seq_len));
  if (w.precision != cfg.train.precision)
    fail(cat("the plan is for precision ", w.precision, ", the config trains ", cfg.train.precision,
             " (", cfg.where("train.precision"), ")"),
         path, cat("plan with --precision ", cfg.train.precision));
  const Layout l = layout_from_plan(p);
  apply_layout(l, cfg, path);
  try {
    validate_config(cfg);
  } catch (const Error& e) {
    throw e.within(cat("plan ", path));
  }
  return cat("plan ", path, ": ", l.describe(), " (", p.cluster_name(), ", predicted ",
             seconds_text(p.time().step()), " per step, ", gb_text(p.memory().total()), " GB per process)");
}

std::string resolve_auto_plan(Config& cfg, int world_size) {
  const std::string where = cfg.where("parallel.cluster");
  ClusterSpec cluster;
  try {
    cluster = load_cluster(cfg.parallel.cluster);
  } catch (const Error& e) {
    throw e.within(where);
  }
  const Workload work = workload_from_config(cfg, cluster);
  SearchOptions options;
  options.gpus = world_size;
  options.top = 1;
  options.allow_recompute = false;
  // Only layouts this build trains: the config rules and the trainer's own checks.
  options.extra_problem = [&](const Layout& l) -> std::string {
    Config c = cfg;
    apply_layout(l, c, "");
    try {
      validate_config(c);
      check_trainable(c, world_size);
    } catch (const Error& e) {
      return e.what();
    }
    return {};
  };
  SearchResult result;
  try {
    result = search_layouts(cfg.model, cluster, work, options);
  } catch (const Error& e) {
    throw e.within(where);
  }
  const Estimate& chosen = best_plan(result, cfg.model, cluster, work);
  const int64_t old_micro_batch = cfg.train.micro_batch;
  apply_layout(chosen.layout, cfg, where);
  validate_config(cfg);
  return cat("parallel: auto chose ", chosen.layout.describe(), " for ", world_size,
             world_size == 1 ? " process" : " processes", " on ", cluster.name, " (predicted ",
             seconds_text(chosen.time.step), " per step, ", gb_text(chosen.memory.total()), " of ",
             cluster.gpu.memory_gb, " GB per process; ", result.estimated, " layouts estimated",
             old_micro_batch != chosen.layout.micro_batch
                 ? cat("; train.micro_batch ", old_micro_batch, " -> ", chosen.layout.micro_batch)
                 : std::string(),
             ")");
}

}  // namespace sadari
