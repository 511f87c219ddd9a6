// Expert load files: per-layer, per-expert load counts (tokens routed to each
// logical expert, from training statistics), the input of `sadari place-experts`
// and of the expert placement policies (parallel/planner/expert_load_balancer.h).
//
// Format: one JSON object (read with yaml-cpp, as JSON is YAML, so every error
// names file:line), with one key "layers" holding either
//   a list of rows, row i = the loads of layer i, expert 0 first:
//     {"layers": [[120, 80, 0, 33], [90, 91, 40, 12]]}
//   or a list of objects naming each layer (e.g. only the MoE layers of a model
//   whose first layers are dense), in any order:
//     {"layers": [{"layer": 3, "loads": [120, 80, 0, 33]},
//                 {"layer": 4, "loads": [90, 91, 40, 12]}]}
// Loads are numbers >= 0 (integers or decimals such as moving averages); every
// layer has the same number of experts (>= 1); layer indices are integers >= 0,
// each at most once. Rejected, with file:line (and column for syntax errors):
// empty files, malformed JSON, other top-level keys, ragged rows, quoted, non-
// numeric, negative, infinite or NaN loads, missing or repeated layer indices,
// unknown keys in a layer object, mixing the two forms.
//
// Pure parsing; throws Error; no state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sadari {

struct ExpertLoads {
  std::vector<int64_t> layer_ids;           // ascending (0..L-1 for the list-of-rows form)
  std::vector<std::vector<double>> loads;   // loads[i][e]: layer layer_ids[i], expert e
  int64_t layers() const { return static_cast<int64_t>(loads.size()); }
  int64_t experts() const { return loads.empty() ? 0 : static_cast<int64_t>(loads[0].size()); }
};

// Parses `text`; `name` (a file name) prefixes every error's where ("name:line").
ExpertLoads parse_expert_loads(const std::string& text, const std::string& name);

// Reads and parses the file at `path`; errors name the path (not found, a
// directory, unreadable, or a parse error as above).
ExpertLoads load_expert_loads(const std::string& path);

// The object form above (layers with their indices), one JSON object; what
// parse_expert_loads reads back to the same loads (doubles round-trip exactly).
std::string expert_loads_to_json(const ExpertLoads& loads);

}  // namespace sadari
