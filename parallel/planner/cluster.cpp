// load_cluster: a cluster YAML file (configs/clusters/*.yaml) -> ClusterSpec.
//
// The file is a map:
//   name, nodes, gpus_per_node                     (required)
//   gpu:        model, kind, bf16_tflops, fp8_tflops, memory_gb,
//               memory_bandwidth_gbs                (required)
//   intra_node: bandwidth_gbs, latency_us           (required)
//   inter_node: bandwidth_gbs, latency_us           (required)
//   efficiency: gemm, attention, network,
//               compute_under_overlap               (optional; cluster.h defaults)
//   runtime_overhead_gb                             (optional; default 0)
// One table below lists every key with its type and range; reading walks the
// file against it, so unknown keys, missing keys, wrong types and values out of
// range are all reported the same way: "FILE:LINE key.path: what (hint: ...)".
#include "parallel/planner/cluster.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <variant>
#include <vector>

#include "core/error.h"
#include "core/name_suggest.h"
#include "core/text_file.h"
#include "core/yaml_read.h"

namespace sadari {

namespace {

using detail::cat;

enum class Bound { count, positive, non_negative, fraction };

struct ClusterKey {
  std::string path;  // "gpu.memory_gb"
  bool required;
  std::variant<std::string ClusterSpec::*, int64_t ClusterSpec::*, std::function<double&(ClusterSpec&)>,
               std::function<std::string&(ClusterSpec&)>>
      field;
  Bound bound = Bound::positive;
  std::vector<std::string> choices = {};  // strings: allowed values (empty: any non-empty)
};

using DoubleRef = std::function<double&(ClusterSpec&)>;
using StringRef = std::function<std::string&(ClusterSpec&)>;

const std::vector<ClusterKey>& cluster_keys() {
  static const std::vector<ClusterKey> keys = {
      {"name", true, &ClusterSpec::name},
      {"nodes", true, &ClusterSpec::nodes, Bound::count},
      {"gpus_per_node", true, &ClusterSpec::gpus_per_node, Bound::count},
      {"gpu.model", true, StringRef([](ClusterSpec& c) -> std::string& { return c.gpu.model; })},
      {"gpu.kind", true, StringRef([](ClusterSpec& c) -> std::string& { return c.gpu.kind; }),
       Bound::positive, {"gpu", "cpu"}},
      {"gpu.bf16_tflops", true, DoubleRef([](ClusterSpec& c) -> double& { return c.gpu.bf16_tflops; })},
      {"gpu.fp8_tflops", true, DoubleRef([](ClusterSpec& c) -> double& { return c.gpu.fp8_tflops; }),
       Bound::non_negative},
      {"gpu.memory_gb", true, DoubleRef([](ClusterSpec& c) -> double& { return c.gpu.memory_gb; })},
      {"gpu.memory_bandwidth_gbs", true,
       DoubleRef([](ClusterSpec& c) -> double& { return c.gpu.memory_bandwidth_gbs; })},
      {"intra_node.bandwidth_gbs", true,
       DoubleRef([](ClusterSpec& c) -> double& { return c.intra_node.bandwidth_gbs; })},
      {"intra_node.latency_us", true,
       DoubleRef([](ClusterSpec& c) -> double& { return c.intra_node.latency_us; }), Bound::non_negative},
      {"inter_node.bandwidth_gbs", true,
       DoubleRef([](ClusterSpec& c) -> double& { return c.inter_node.bandwidth_gbs; })},
      {"inter_node.latency_us", true,
       DoubleRef([](ClusterSpec& c) -> double& { return c.inter_node.latency_us; }), Bound::non_negative},
      {"efficiency.gemm", false, DoubleRef([](ClusterSpec& c) -> double& { return c.efficiency.gemm; }),
       Bound::fraction},
      {"efficiency.attention", false,
       DoubleRef([](ClusterSpec& c) -> double& { return c.efficiency.attention; }), Bound::fraction},
      {"efficiency.network", false,
       DoubleRef([](ClusterSpec& c) -> double& { return c.efficiency.network; }), Bound::fraction},
      {"efficiency.compute_under_overlap", false,
       DoubleRef([](ClusterSpec& c) -> double& { return c.efficiency.compute_under_overlap; }), Bound::fraction},
      {"runtime_overhead_gb", false, DoubleRef([](ClusterSpec& c) -> double& { return c.runtime_overhead_gb; }),
       Bound::non_negative},
  };
  return keys;
}

const std::vector<std::string> kSections = {"gpu", "intra_node", "inter_node", "efficiency"};

std::string section_of(const std::string& path) {
  size_t dot = path.find('.');
  return dot == std::string::npos ? "" : path.substr(0, dot);
}
std::string leaf_of(const std::string& path) {
  size_t dot = path.find('.');
  return dot == std::string::npos ? path : path.substr(dot + 1);
}

// The names allowed directly inside `section` ("" = top level).
std::vector<std::string> children(const std::string& section) {
  std::vector<std::string> out;
  if (section.empty()) out = kSections;
  for (const auto& k : cluster_keys())
    if (section_of(k.path) == section) out.push_back(leaf_of(k.path));
  return out;
}

class ClusterReader {
 public:
  explicit ClusterReader(std::string file) : file_(std::move(file)) {}

  ClusterSpec read(const YAML::Node& root) {
    ClusterSpec c;
    c.source_file = file_;
    if (!root.IsMap())
      fail(cat("a cluster file must be a map of keys, got ", yaml_kind(root)), at(root.Mark()),
           cat("start with 'name:'; keys: ", join_names(children(""))));
    read_map(root, "", c);
    // Missing required keys: named with the line of their section (or the file).
    for (const auto& k : cluster_keys()) {
      if (!k.required || seen_.count(k.path)) continue;
      const std::string sec = section_of(k.path);
      const std::string where = sec.empty() ? file_ : cat(section_line_.count(sec) ? section_line_[sec] : file_, " ", sec);
      fail(cat("missing key '", k.path, "'"), where,
           cat("every cluster file states ", leaf_of(k.path), sec.empty() ? "" : cat(" under '", sec, ":'"),
               " with its source in a comment (see configs/clusters/h800-2048.yaml)"));
    }
    return c;
  }

 private:
  std::string at(const YAML::Mark& m) const { return yaml_where(file_, m); }

  void read_map(const YAML::Node& map, const std::string& section, ClusterSpec& c) {
    std::set<std::string> names;
    for (const auto& pair : map) {
      const YAML::Node key = pair.first;
      const YAML::Node value = pair.second;
      const std::string loc = at(key.Mark());
      if (!key.IsScalar()) fail(cat("a key must be a plain name, got ", yaml_kind(key)), loc);
      const std::string name = key.Scalar();
      const std::string path = section.empty() ? name : cat(section, ".", name);
      const std::string where = cat(loc, " ", path);
      if (!names.insert(name).second) fail("duplicate key", where, "keep one");
      if (section.empty() && std::find(kSections.begin(), kSections.end(), name) != kSections.end()) {
        section_line_[name] = loc;
        if (!value.IsMap())
          fail(cat("expected a map of keys, got ", yaml_kind(value)), where,
               cat("indent 'key: value' lines under '", name, ":' (", join_names(children(name)), ")"));
        read_map(value, name, c);
        continue;
      }
      const ClusterKey* k = nullptr;
      for (const auto& candidate : cluster_keys())
        if (candidate.path == path) k = &candidate;
      if (!k) {
        const std::vector<std::string> allowed = children(section);
        const std::string best = closest_name(name, allowed);
        fail(section.empty() ? "unknown key" : cat("unknown key of ", section), where,
             best.empty() ? cat("keys here: ", join_names(allowed)) : cat("did you mean '", best, "'?"));
      }
      set(*k, value, where, c);
      seen_.insert(path);
    }
  }

  static void set(const ClusterKey& k, const YAML::Node& value, const std::string& where, ClusterSpec& c) {
    if (!value.IsScalar()) fail(cat("expected a scalar, got ", yaml_kind(value)), where);
    const std::string& text = value.Scalar();
    auto set_string = [&](std::string& out) {
      if (text.empty()) fail("must not be empty", where);
      if (!k.choices.empty() && std::find(k.choices.begin(), k.choices.end(), text) == k.choices.end()) {
        const std::string best = closest_name(text, k.choices);
        fail(cat("'", text, "' is not one of: ", join_names(k.choices)), where,
             best.empty() ? "" : cat("did you mean '", best, "'?"));
      }
      out = text;
    };
    std::visit(
        [&](auto& f) {
          using F = std::decay_t<decltype(f)>;
          if constexpr (std::is_same_v<F, std::string ClusterSpec::*>) {
            set_string(c.*f);
          } else if constexpr (std::is_same_v<F, StringRef>) {
            set_string(f(c));
          } else if constexpr (std::is_same_v<F, int64_t ClusterSpec::*>) {
            int64_t v = 0;
            if (parse_integer(text, v) != IntParse::ok)
              fail(cat("expected a whole number, got '", text, "'"), where);
            if (v < 1) fail(cat("must be >= 1, got ", v), where);
            c.*f = v;
          } else {
            double v = 0;
            if (!parse_double(text, v)) fail(cat("expected a number, got '", text, "'"), where);
            switch (k.bound) {
              case Bound::positive:
                if (!(v > 0)) fail(cat("must be > 0, got ", v), where);
                break;
              case Bound::non_negative:
                if (v < 0) fail(cat("must be >= 0, got ", v), where);
                break;
              case Bound::fraction:
                if (!(v > 0 && v <= 1))
                  fail(cat("must be in (0, 1], got ", v), where, "an efficiency is a fraction of peak");
                break;
              case Bound::count: break;
            }
            f(c) = v;
          }
        },
        k.field);
  }

  std::string file_;
  std::set<std::string> seen_;
  std::map<std::string, std::string> section_line_;
};

}  // namespace

ClusterSpec load_cluster(const std::string& path) {
  const std::string text =
      read_text_file(path, "cluster file", "check the path; shipped clusters are in configs/clusters/",
                     "configs/clusters/h800-2048.yaml");
  const std::vector<YAML::Node> docs = load_yaml_documents(text, path);
  if (docs.size() != 1)
    fail(docs.empty() ? "is empty" : "holds several YAML documents", path,
         "a cluster file is one map (see configs/clusters/h800-2048.yaml)");
  return ClusterReader(path).read(docs[0]);
}

}  // namespace sadari
