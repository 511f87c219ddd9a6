// `sadari place-experts`: expert placement from a load file
// (parallel/planner/expert_loads.h): per layer, a policy of
// parallel/planner/expert_load_balancer.h maps logical experts to slots on GPUs;
// prints a per-layer balance table (max, mean, lower bound) and totals, or the
// maps as JSON (parallel/planner/expert_placement.proto). Local to one process;
// needs no config file and no MPI.
#pragma once

#include <string>
#include <vector>

namespace sadari {

// Runs `sadari place-experts <args...>`; returns the exit code. Throws
// UsageError for command-line mistakes (exit 2) and Error for bad load files and
// impossible placements (exit 1), naming the file:line or the option. A failed
// run writes no --output file.
int cmd_place_experts(const std::vector<std::string>& args);

}  // namespace sadari
