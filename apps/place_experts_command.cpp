#include "apps/place_experts_command.h"

#include <google/protobuf/util/json_util.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "apps/command_line.h"
#include "apps/commands.h"
#include "core/error.h"
#include "parallel/planner/expert_load_balancer.h"
#include "parallel/planner/expert_loads.h"
#include "parallel/planner/expert_placement.pb.h"

namespace sadari {

using detail::cat;

namespace {

const char* kWhere = "sadari place-experts";

const std::vector<OptionSpec> kOptions = {
    {"loads", true, false, "expert load file (JSON; required; format: docs/expert-placement.md)"},
    {"gpus", true, false, "GPUs of the expert-parallel group (required)"},
    {"gpus-per-node", true, false, "GPUs per node; divides --gpus (default 8)"},
    {"slots-per-gpu", true, false, "expert slots per GPU (default experts / gpus: no replicas)"},
    {"groups", true, false, "expert groups of group-limited routing, model.n_groups (default 1)"},
    {"policy", true, false, "identity, greedy, global or hierarchical (default global)"},
    {"json", false, false, "print the per-layer maps and balance as one JSON object"},
    {"output", true, false, "also write that JSON to FILE"},
    {"help", false, false, "show this help"},
};

const char* kUsage =
    "usage: sadari place-experts --loads FILE --gpus N [--gpus-per-node N] [--slots-per-gpu N]\n"
    "                            [--groups G] [--policy P] [--json] [--output FILE]\n\n"
    "Places the logical experts of every layer of FILE (per-expert load counts) on\n"
    "N GPUs with --slots-per-gpu slots each; extra slots hold replicas of hot\n"
    "experts, which share their expert's load. Policies: identity (expert e on GPU\n"
    "e / (experts / N)), greedy (replicas to the heaviest, then heaviest first to the\n"
    "least loaded GPU), global (greedy improved by swaps), hierarchical (expert groups\n"
    "kept on nodes, replicas within nodes; needs nodes to divide --groups).\n"
    "Prints per layer the most loaded GPU (max), the mean, the lower bound no\n"
    "placement can beat (the larger of the mean and the heaviest replica) and the\n"
    "ratios; --json prints the logical-to-physical maps instead.";

int64_t int_option(const ParsedArgs& a, const std::string& name, int64_t fallback) {
  if (!a.has(name)) return fallback;
  const std::string text = a.value(name);
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || v < 1 || v > 1000000)
    throw UsageError(cat("--", name, " expects a positive integer, got '", text, "'"), kWhere,
                     "see sadari place-experts --help");
  return v;
}

std::string format_load(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", x);
  return buf;
}

placement::LayerPlacement layer_report(int64_t layer, const std::vector<double>& loads,
                                       const PlacementResult& r, int64_t gpus_per_node) {
  placement::LayerPlacement out;
  out.set_layer(static_cast<int32_t>(layer));
  out.set_max_load(r.max_load);
  out.set_mean_load(r.mean_load);
  out.set_lower_bound(r.lower_bound);
  out.set_max_over_mean(r.imbalance());
  out.set_max_over_lower_bound(r.over_lower_bound());
  const ExpertPlacement& p = r.placement;
  for (int g = 0; g < p.ranks(); ++g) {
    placement::GpuSlots* gpu = out.add_gpus();
    gpu->set_gpu(g);
    gpu->set_node(static_cast<int32_t>(g / gpus_per_node));
    for (int64_t e : p.rank_slots(g)) gpu->add_experts(static_cast<int32_t>(e));
    gpu->set_load(r.gpu_loads[g]);
  }
  int32_t replicated = 0;
  for (int64_t e = 0; e < p.experts(); ++e) {
    placement::ExpertReplicas* ex = out.add_experts();
    ex->set_expert(static_cast<int32_t>(e));
    ex->set_load(loads[e]);
    for (const ExpertPlacement::Replica& rep : p.replicas(e)) {
      ex->add_gpus(rep.rank);
      ex->add_slots(static_cast<int32_t>(rep.slot));
    }
    ex->set_replica_load(loads[e] / static_cast<double>(p.replicas(e).size()));
    if (p.replicas(e).size() > 1) ++replicated;
  }
  out.set_replicated_experts(replicated);
  return out;
}

std::string to_json(const placement::PlacementReport& report) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;  // a 0 load is a value, not an absence
  options.preserve_proto_field_names = true;
  std::string json;
  const auto status = google::protobuf::util::MessageToJsonString(report, &json, options);
  if (!status.ok()) fail(cat("cannot write the placement as JSON: ", status.ToString()), kWhere);
  return json + "\n";
}

std::string text_table(const placement::PlacementReport& report, int64_t layers_total) {
  std::string out = cat("expert placement: policy ", report.policy(), ", ", layers_total, " layers x ",
                        report.experts(), " experts on ", report.gpus(), " GPUs (", report.nodes(),
                        " nodes x ", report.gpus() / report.nodes(), "), ", report.slots_per_gpu(),
                        " slots per GPU (", report.slots_per_gpu() * report.gpus() - report.experts(),
                        " for replicas), ", report.expert_groups(), " expert groups\n");
  char line[256];
  std::snprintf(line, sizeof line, "%6s %12s %12s %12s %9s %10s %11s\n", "layer", "max", "mean",
                "lower bound", "max/mean", "max/bound", "replicated");
  out += line;
  for (const placement::LayerPlacement& l : report.layers()) {
    std::snprintf(line, sizeof line, "%6d %12s %12s %12s %9.4f %10.4f %11d\n", l.layer(),
                  format_load(l.max_load()).c_str(), format_load(l.mean_load()).c_str(),
                  format_load(l.lower_bound()).c_str(), l.max_over_mean(), l.max_over_lower_bound(),
                  l.replicated_experts());
    out += line;
  }
  const placement::PlacementTotals& t = report.totals();
  std::snprintf(line, sizeof line, "%6s %12s %12s %12s %9.4f %10.4f\n", "total",
                format_load(t.max_load_sum()).c_str(), format_load(t.mean_load_sum()).c_str(),
                format_load(t.lower_bound_sum()).c_str(), t.max_over_mean(), t.max_over_lower_bound());
  out += line;
  out += cat("worst layer: ", t.worst_layer(), " (max/mean ", format_load(t.worst_max_over_mean()), ")\n");
  return out;
}

}  // namespace

int cmd_place_experts(const std::vector<std::string>& args) {
  const auto a = parse_args("place-experts", args, kOptions);
  if (a.has("help")) {
    std::printf("%s\n\noptions:\n%s", kUsage, describe_options(kOptions).c_str());
    return 0;
  }
  if (!a.positional.empty())
    throw UsageError("unexpected argument '" + a.positional[0] + "'", kWhere, "see sadari place-experts --help");
  if (!a.has("loads")) throw UsageError("--loads FILE is required", kWhere, "see sadari place-experts --help");
  if (!a.has("gpus")) throw UsageError("--gpus N is required", kWhere, "see sadari place-experts --help");
  const PlacementPolicy policy = [&] {
    try {
      return parse_placement_policy(a.value("policy", "global"), "sadari place-experts --policy");
    } catch (const Error& e) {  // a command-line mistake: exit 2
      throw UsageError(e.what_failed(), e.where(), e.hint());
    }
  }();
  const int64_t gpus = int_option(a, "gpus", 1);
  const int64_t gpus_per_node = int_option(a, "gpus-per-node", 8);
  const int64_t groups = int_option(a, "groups", 1);

  const ExpertLoads loads = load_expert_loads(a.value("loads"));
  const int64_t experts = loads.experts();
  if (!a.has("slots-per-gpu") && experts % gpus != 0)
    throw UsageError(cat("--slots-per-gpu is required: ", gpus, " GPUs do not divide the ", experts,
                         " experts of ", a.value("loads")),
                     kWhere, cat("give at least ", (experts + gpus - 1) / gpus, " slots per GPU"));
  const int64_t slots = int_option(a, "slots-per-gpu", experts / gpus);

  PlacementRequest request;
  request.gpus = gpus;
  request.gpus_per_node = gpus_per_node;
  request.slots_per_gpu = slots;
  request.expert_groups = groups;
  const int64_t node_size = std::min(gpus, gpus_per_node);

  placement::PlacementReport report;
  report.set_policy(placement_policy_name(policy));
  report.set_experts(static_cast<int32_t>(experts));
  report.set_gpus(static_cast<int32_t>(gpus));
  report.set_gpus_per_node(static_cast<int32_t>(node_size));
  report.set_nodes(static_cast<int32_t>((gpus + node_size - 1) / node_size));
  report.set_slots_per_gpu(static_cast<int32_t>(slots));
  report.set_expert_groups(static_cast<int32_t>(groups));
  placement::PlacementTotals* totals = report.mutable_totals();
  totals->set_worst_max_over_mean(0);
  for (int64_t i = 0; i < loads.layers(); ++i) {
    request.loads = loads.loads[i];
    PlacementResult r = [&] {
      try {
        return place_experts(request, policy);
      } catch (const Error& e) {
        throw e.within(cat(kWhere, " --policy ", placement_policy_name(policy), ", layer ", loads.layer_ids[i]));
      }
    }();
    *report.add_layers() = layer_report(loads.layer_ids[i], request.loads, r, node_size);
    totals->set_max_load_sum(totals->max_load_sum() + r.max_load);
    totals->set_mean_load_sum(totals->mean_load_sum() + r.mean_load);
    totals->set_lower_bound_sum(totals->lower_bound_sum() + r.lower_bound);
    if (i == 0 || r.imbalance() > totals->worst_max_over_mean()) {
      totals->set_worst_max_over_mean(r.imbalance());
      totals->set_worst_layer(static_cast<int32_t>(loads.layer_ids[i]));
    }
  }
  totals->set_max_over_mean(totals->mean_load_sum() > 0 ? totals->max_load_sum() / totals->mean_load_sum() : 1.0);
  totals->set_max_over_lower_bound(
      totals->lower_bound_sum() > 0 ? totals->max_load_sum() / totals->lower_bound_sum() : 1.0);

  const bool want_json = a.has("json") || a.has("output");
  const std::string json = want_json ? to_json(report) : std::string();
  if (a.has("output")) {
    const std::string path = a.value("output");
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << json;
    out.close();
    if (!out) fail("cannot write the placement", path, "check that the folder exists and is writable");
  }
  if (a.has("json")) {
    std::fputs(json.c_str(), stdout);
  } else {
    std::fputs(text_table(report, loads.layers()).c_str(), stdout);
    if (a.has("output")) std::printf("wrote the per-layer maps to %s\n", a.value("output").c_str());
  }
  return 0;
}

}  // namespace sadari
