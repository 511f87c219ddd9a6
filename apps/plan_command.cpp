#include "apps/plan_command.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "apps/build_info.h"
#include "apps/command_line.h"
#include "apps/commands.h"
#include "apps/plan_apply.h"
#include "core/config_load.h"
#include "parallel/planner/layout_search.h"
#include "parallel/planner/layout_spec.h"
#include "parallel/planner/plan_artifact.h"
#include "parallel/planner/plan_explain.h"


namespace sadari {

namespace {

using detail::cat;

const std::vector<OptionSpec> kPlanOptions = {
    {"global-batch", true, false, "sequences per optimizer step (default: MODEL's train.global_batch, else 4096)"},
    {"seq-len", true, false, "tokens per sequence (default: MODEL's train.seq_len, else min(4096, max_seq_len))"},
    {"precision", true, false, "f32, bf16 or fp8 (default: MODEL's train.precision, else bf16; f32 on a cpu cluster)"},
    {"gpus", true, false, "plan for N GPUs of the cluster (default: all of them)"},
    {"top", true, false, "how many of the fastest fitting layouts to print (default 5)"},
    {"layout", true, false, "also evaluate this layout: pp=16,ep=64,schedule=dualpipe,zero=1,mb=1 or deepseek-v3"},
    {"no-recompute", false, false, "only layouts that keep activations (what `sadari train` runs)"},
    {"json", false, false, "print the plans as one JSON object (sadari.plan.Report)"},
    {"output", true, false, "write the winner as a plan file (FILE.plan.txtpb; .json or .pb by extension)"},
    {"help", false, false, "show this help"},
};

const char* kPlanUsage =
    "usage: sadari plan MODEL CLUSTER [--global-batch N] [--seq-len N] [--precision P]\n"
    "                   [--gpus N] [--top K] [--layout SPEC] [--no-recompute] [--json]\n"
    "                   [--output FILE.plan.txtpb]\n\n"
    "Enumerates the layouts of MODEL (a config YAML, e.g. configs/models/deepseek-v3.yaml)\n"
    "on CLUSTER (configs/clusters/*.yaml): pipeline stages, data and expert parallelism,\n"
    "micro-batches, schedule, ZeRO stage and recomputation; drops those that do not fit\n"
    "in memory and ranks the rest by predicted time per step (the cost model of\n"
    "parallel/planner/cost_model.cpp: estimates, not measurements). Prints the fastest\n"
    "with memory and time breakdowns, MFU, tokens/s and GPU-hours per trillion tokens,\n"
    "and why the winner wins. --output writes the winner for `sadari train --plan FILE`.";

int64_t int_option(const ParsedArgs& a, const std::string& name, int64_t fallback, int64_t lo,
                   int64_t hi) {
  if (!a.has(name)) return fallback;
  const std::string text = a.value(name);
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || v < lo || v > hi)
    throw UsageError(cat("--", name, " expects a whole number in [", lo, ", ", hi, "], got '", text, "'"),
                     "sadari plan", "see sadari plan --help");
  return v;
}

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// 1234567 -> "1.23M"; for rates and GPU-hours.
std::string si(double v) {
  if (v >= 1e12) return fmt("%.3gT", v / 1e12);
  if (v >= 1e9) return fmt("%.3gG", v / 1e9);
  if (v >= 1e6) return fmt("%.3gM", v / 1e6);
  if (v >= 1e3) return fmt("%.3gk", v / 1e3);
  return fmt("%.3g", v);
}

std::string pad(const std::string& s, size_t width, bool right) {
  if (s.size() >= width) return s;
  return right ? std::string(width - s.size(), ' ') + s : s + std::string(width - s.size(), ' ');
}

// Greedy word wrap at `width` columns.
std::string wrap(const std::string& text, size_t width) {
  std::string out, line;
  size_t start = 0;
  while (start < text.size()) {
    size_t space = text.find(' ', start);
    if (space == std::string::npos) space = text.size();
    const std::string word = text.substr(start, space - start);
    start = space + 1;
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      out += line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  return out + line + "\n";
}

struct Column {
  std::string label;
  const Estimate* e;
};

std::string summary_table(const std::vector<Column>& cols, double memory_limit) {
  size_t label_width = 3, layout_width = 6;
  for (const auto& c : cols) {
    label_width = std::max(label_width, c.label.size() + 1);
    layout_width = std::max(layout_width, c.e->layout.describe().size());
  }
  std::string out = cat(pad("#", label_width, false), pad("layout", layout_width, false), "  ",
                        pad("memory GB", 9, true), "  ", pad("step", 8, true), "  ",
                        pad("MFU", 6, true), "  ", pad("tokens/s", 8, true), "  ",
                        pad("GPU-h/1T", 8, true), "\n");
  for (const auto& c : cols) {
    const Estimate& e = *c.e;
    const double gb = e.memory.total() / 1e9;
    const std::string mem = fmt(gb < 10 ? "%.2f" : "%.1f", gb) + (e.fits ? "" : "!");
    out += cat(pad(c.label, label_width, false), pad(e.layout.describe(), layout_width, false), "  ",
               pad(mem, 9, true), "  ", pad(seconds_text(e.time.step), 8, true), "  ",
               pad(fmt("%.1f%%", 100 * e.mfu), 6, true), "  ", pad(si(e.tokens_per_s), 8, true),
               "  ", pad(si(e.gpu_hours_per_trillion_tokens), 8, true), "\n");
  }
  out += "(memory per GPU; step = predicted time per optimizer step; GPU-h/1T = GPU-hours per\n"
         " trillion training tokens";
  bool any_over = false;
  for (const auto& c : cols) any_over = any_over || !c.e->fits;
  if (any_over) out += cat("; ! = does not fit in ", fmt("%.4g", memory_limit / 1e9), " GB");
  return out + ")\n";
}

std::string breakdown_table(const std::vector<Column>& cols, double memory_limit) {
  const size_t label_width = 22, width = 12;
  // One time unit for the table, from the winner's step.
  const double step = cols.front().e->time.step;
  const double unit = step >= 1 ? 1 : step >= 1e-3 ? 1e-3 : 1e-6;
  const char* unit_name = step >= 1 ? "s" : step >= 1e-3 ? "ms" : "us";
  std::string header = pad("", label_width, false);
  for (const auto& c : cols) header += pad(c.label.size() > width - 1 ? c.label.substr(0, width - 1) : c.label, width, true);
  std::string out;
  auto row = [&](const std::string& name, auto get, const char* format, double scale) {
    std::string line = pad(cat("  ", name), label_width, false);
    for (const auto& c : cols) line += pad(fmt(format, get(*c.e) / scale), width, true);
    out += line + "\n";
  };
  out += pad("memory per GPU (GB)", label_width, false) + header.substr(label_width) + "\n";
  const char* g = "%.2f";
  row("weights", [](const Estimate& e) { return e.memory.weights; }, g, 1e9);
  row("gradients", [](const Estimate& e) { return e.memory.gradients; }, g, 1e9);
  row("master weights", [](const Estimate& e) { return e.memory.master_weights; }, g, 1e9);
  row("optimizer states", [](const Estimate& e) { return e.memory.optimizer_states; }, g, 1e9);
  row("activations", [](const Estimate& e) { return e.memory.activations; }, g, 1e9);
  row("comm buffers", [](const Estimate& e) { return e.memory.comm_buffers; }, g, 1e9);
  row("runtime overhead", [](const Estimate& e) { return e.memory.runtime_overhead; }, g, 1e9);
  row("data", [](const Estimate& e) { return e.memory.data; }, g, 1e9);
  row(cat("total (of ", fmt("%.0f", memory_limit / 1e9), ")"),
      [](const Estimate& e) { return e.memory.total(); }, g, 1e9);
  out += cat(pad(cat("time per step (", unit_name, ")"), label_width, false), "\n");
  const char* t = "%.3f";
  row("compute", [](const Estimate& e) { return e.time.compute; }, t, unit);
  row("bubble", [](const Estimate& e) { return e.time.bubble; }, t, unit);
  row("exposed comm", [](const Estimate& e) { return e.time.exposed_comm; }, t, unit);
  row("step", [](const Estimate& e) { return e.time.step; }, t, unit);
  row("  EP dispatch (raw)", [](const Estimate& e) { return e.time.ep_dispatch; }, t, unit);
  row("  EP combine (raw)", [](const Estimate& e) { return e.time.ep_combine; }, t, unit);
  row("  DP sync (raw)", [](const Estimate& e) { return e.time.dp_sync; }, t, unit);
  row("  PP transfer (raw)", [](const Estimate& e) { return e.time.pp_transfer; }, t, unit);
  out += "EP traffic\n";
  row("KB per token", [](const Estimate& e) { return e.time.ep_bytes_per_token; }, "%.1f", 1e3);
  row("inter-node share %", [](const Estimate& e) { return e.time.ep_inter_node_fraction; }, "%.1f", 0.01);
  return out;
}

std::string version_text() {
  return *sadari_git_commit() ? cat(sadari_version(), " (", sadari_git_commit(), ")") : std::string(sadari_version());
}

}  // namespace

int cmd_plan(const std::vector<std::string>& args) {
  const auto a = parse_args("plan", args, kPlanOptions);
  if (a.has("help")) {
    std::printf("%s\n\noptions:\n%s", kPlanUsage, describe_options(kPlanOptions).c_str());
    return 0;
  }
  if (a.positional.size() != 2)
    throw UsageError(cat("expected MODEL and CLUSTER files, got ", a.positional.size(), " arguments"),
                     "sadari plan", "e.g. sadari plan configs/models/deepseek-v3.yaml configs/clusters/h800-2048.yaml");
  const Config cfg = load_config(a.positional[0]);
  const ClusterSpec cluster = load_cluster(a.positional[1]);

  // The workload: options, else what MODEL's file sets, else the planning defaults.
  Workload work = workload_from_config(cfg, cluster);
  const Workload defaults;
  if (!cfg.origin.count("train.global_batch")) work.global_batch = defaults.global_batch;
  if (!cfg.origin.count("train.seq_len"))
    work.seq_len = std::min(defaults.seq_len, cfg.model.max_seq_len);
  if (!cfg.origin.count("train.precision")) work.precision = cluster.gpu.kind == "cpu" ? "f32" : "bf16";
  work.global_batch = int_option(a, "global-batch", work.global_batch, 1, int64_t{1} << 30);
  work.seq_len = int_option(a, "seq-len", work.seq_len, 1, cfg.model.max_seq_len);
  if (a.has("precision")) {
    work.precision = a.value("precision");
    if (work.precision != "f32" && work.precision != "bf16" && work.precision != "fp8")
      throw UsageError(cat("--precision expects f32, bf16 or fp8, got '", work.precision, "'"),
                       "sadari plan", "see sadari plan --help");
  }
  SearchOptions options;
  options.gpus = int_option(a, "gpus", cluster.gpus(), 1, cluster.gpus());
  options.top = int_option(a, "top", 5, 1, 100);
  options.allow_recompute = !a.has("no-recompute");

  const auto t0 = std::chrono::steady_clock::now();
  const SearchResult result = search_layouts(cfg.model, cluster, work, options);
  const double planning_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // A named layout is evaluated (and checked) before "no plan fits" can end the run,
  // so that a bad --layout is reported as such.
  std::optional<Estimate> named;
  const std::string named_text = a.value("layout");
  std::string named_label;
  if (a.has("layout")) {
    const Layout l = parse_layout(named_text, result.gpus, work, "--layout");
    const std::string problem = layout_problem(cfg.model, cluster, work, l);
    if (!problem.empty())
      fail(cat("layout ", l.describe(), " cannot run ", cfg.model.name, " on ", result.gpus,
               " GPUs: ", problem),
           "--layout", "change the layout or the workload options");
    named = estimate(cfg.model, cluster, work, l);
    named_label = named_text.find('=') == std::string::npos ? named_text : "--layout";
  }
  const Estimate& winner = best_plan(result, cfg.model, cluster, work);
  const double memory_limit = cluster.gpu.memory_gb * 1e9;
  const std::string why = explain_winner(result.best, named ? &*named : nullptr, named_label,
                                         memory_limit, result.fitting);

  const std::string version = version_text();
  if (a.has("output")) write_plan_file(a.value("output"), make_plan(winner, cfg.model, cluster, work, version));

  if (a.has("json")) {
    plan::Report report;
    report.set_model_name(cfg.model.name);
    report.set_cluster_name(cluster.name);
    report.set_world_size(static_cast<int32_t>(result.gpus));
    const plan::Plan first = make_plan(winner, cfg.model, cluster, work, version);
    *report.mutable_workload() = first.workload();
    for (const Estimate& e : result.best) *report.add_plans() = make_plan(e, cfg.model, cluster, work, version);
    if (named) {
      report.set_named_layout(named_text);
      *report.mutable_named() = make_plan(*named, cfg.model, cluster, work, version);
    }
    report.set_why(why);
    report.set_layouts_enumerated(static_cast<int32_t>(result.enumerated));
    report.set_layouts_rejected(static_cast<int32_t>(result.rejected));
    report.set_layouts_fitting(static_cast<int32_t>(result.fitting));
    report.set_planning_seconds(planning_s);
    std::printf("%s\n", message_to_json(report, false).c_str());
    return 0;
  }

  const ModelCost mc = model_cost(cfg.model, work.seq_len);
  std::printf("%s (%s parameters, %s active per token) on %s: %lld x %s, %.4g GB each\n",
              cfg.model.name.c_str(), si(mc.total_params).c_str(), si(mc.active_params).c_str(),
              cluster.name.c_str(), static_cast<long long>(result.gpus), cluster.gpu.model.c_str(),
              cluster.gpu.memory_gb);
  std::printf("workload: %lld sequences x %lld tokens per step (%s tokens), %s\n",
              static_cast<long long>(work.global_batch), static_cast<long long>(work.seq_len),
              si(static_cast<double>(work.global_batch) * static_cast<double>(work.seq_len)).c_str(),
              work.precision.c_str());
  std::printf("searched %lld layouts in %.3f s: %lld impossible, %lld estimated, %lld fit\n\n",
              static_cast<long long>(result.enumerated), planning_s,
              static_cast<long long>(result.rejected), static_cast<long long>(result.estimated),
              static_cast<long long>(result.fitting));

  std::vector<Column> cols;
  for (size_t i = 0; i < result.best.size(); ++i) cols.push_back({cat("#", i + 1), &result.best[i]});
  if (named) cols.push_back({named_label, &*named});
  std::fputs(summary_table(cols, memory_limit).c_str(), stdout);
  std::fputs("\n", stdout);
  // The breakdown columns: at most 5 plans and the named layout keep it near 100 columns.
  std::vector<Column> shown(cols.begin(), cols.begin() + std::min<size_t>(result.best.size(), 5));
  if (named) shown.push_back(cols.back());
  std::fputs(breakdown_table(shown, memory_limit).c_str(), stdout);
  std::fputs("\n", stdout);
  std::fputs(wrap(why, 100).c_str(), stdout);
  if (a.has("output"))
    std::printf("\nwrote the winner to %s (use: sadari train CONFIG --plan %s)\n",
                a.value("output").c_str(), a.value("output").c_str());
  std::printf("\nEstimates of the cost model (parallel/planner/cost_model.cpp), not measurements.\n");
  return 0;
}

}  // namespace sadari
