// `sadari plan MODEL CLUSTER`: search the parallel layouts of a model on a cluster
// (parallel/planner/layout_search.h), print the fastest that fit in memory with
// their memory and time breakdowns, MFU, tokens/s and GPU-hours per trillion
// tokens, evaluate a named layout next to them (--layout), say why the winner
// wins, and optionally write the winner as a plan file for `sadari train --plan`.
// Local to one process; needs no MPI.
//
// The workload comes from the options, else from MODEL's train section where the
// file sets it, else global batch 4096 x seq_len min(4096, model.max_seq_len) in
// bf16 (f32 on a cpu cluster).
#pragma once

#include <string>
#include <vector>

namespace sadari {

// Runs `sadari plan <args...>`; returns the exit code. Throws UsageError for
// command-line mistakes and Error for bad files or when no plan fits.
int cmd_plan(const std::vector<std::string>& args);

}  // namespace sadari
