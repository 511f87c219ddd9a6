// From a plan to a run: the workload a config describes, and the two ways a
// planned layout reaches `sadari train`:
//   --plan FILE       a plan artifact written by `sadari plan --output FILE`
//                     (parallel/planner/plan_artifact.h)
//   parallel: auto    planned on the spot for the running world size, on the
//                     cluster description parallel.cluster
// Both set parallel.pp, dp, ep, schedule, chunks, zero_stage (stage_layers cleared,
// auto_plan off) and train.micro_batch, then validate the config again.
//
// Every rank of a job calls these with the same config and world size; they do
// no communication and are deterministic (layout_search.h ranks ties by name), so
// every rank gets the same layout, and a failure is the same on every rank.
//
// Errors: throw Error naming the plan file or the config key (parallel.cluster)
// and both sides of a mismatch: model name, world size, global batch, sequence
// length or precision; "no plan fits" from the planner; a plan that recomputes
// activations (the trainer keeps them).
#pragma once

#include <string>

#include "core/config.h"
#include "parallel/planner/cluster.h"
#include "parallel/planner/cost_model.h"

namespace sadari {

// The workload of `cfg`'s train section. data_bytes: the synthetic corpus every
// CPU process generates and holds (4-byte tokens) on a cpu cluster, else 0 (token
// shards are memory-mapped, GPU jobs stream their data).
Workload workload_from_config(const Config& cfg, const ClusterSpec& cluster);

// Sets the layout's keys in `cfg` (see the header); does not validate. Throws
// Error (where = `where`) for a layout the trainer cannot run as such (recompute).
void apply_layout(const Layout& layout, Config& cfg, const std::string& where);

// `sadari train --plan FILE`: reads the plan, checks it against `cfg` and
// `world_size`, applies and validates. Returns a line describing what was applied.
std::string apply_plan_file(const std::string& path, Config& cfg, int world_size);

// `parallel: auto`: plans for `world_size` processes on cfg.parallel.cluster
// (only layouts this build's trainer runs), applies and validates. Returns the
// line to print (the chosen layout and its predicted step and memory).
std::string resolve_auto_plan(Config& cfg, int world_size);

}  // namespace sadari
