// A layout written by hand: "pp=16,dp=128,ep=64,schedule=dualpipe,zero=1,mb=1",
// or a built-in name for a published layout, so that `sadari plan --layout` can
// evaluate it next to the planner's winner.
//
// Keys (comma-separated key=value; spaces around items are ignored):
//   pp, dp, ep                  degrees; dp defaults to gpus / pp, pp and ep to 1
//   mb (or micro_batch)         sequences per micro-batch, default 1
//   microbatches                per dp replica per step, default global_batch / (dp x mb)
//   schedule                    as parallel.schedule, default 1f1b
//   chunks                      default 2 for interleaved, dualpipe, dualpipev, else 1
//   zero (or zero_stage)        0 or 1, default 1
//   recompute                   on|off|true|false|1|0, default off
// Built-in names (builtin_layouts()):
//   deepseek-v3   DeepSeek's own pre-training layout (DeepSeek-V3 Technical Report,
//                 arXiv:2412.19437, section 3.2): 16-way pipeline parallelism
//                 with DualPipe, 64-way expert parallelism across 8 nodes, ZeRO-1 data
//                 parallelism, no tensor parallelism; micro-batch 1 (the report does
//                 not state it; 1 sequence of 4K tokens is our assumption). Its
//                 "recompute RMSNorm and MLA up-projections" is selective and costs
//                 little, so the layout is evaluated with recompute off.
// The result is arithmetic only; whether the layout can run is layout_problem's
// call (cost_model.h).
//
// Errors: throws Error (where = `where`, e.g. "--layout") for an unknown key or
// name, a value that is not a whole number, dp not dividing gpus / a world that
// does not match, or a global batch that dp x mb does not divide.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "parallel/planner/cost_model.h"

namespace sadari {

struct BuiltinLayout {
  std::string name;         // "deepseek-v3"
  std::string spec;         // its key=value form (dp left to gpus / pp)
  std::string description;  // one line, with its source
};

const std::vector<BuiltinLayout>& builtin_layouts();

// Parses `text` (a built-in name or key=value list) for `gpus` GPUs and `work`.
Layout parse_layout(const std::string& text, int64_t gpus, const Workload& work,
                    const std::string& where);

}  // namespace sadari
