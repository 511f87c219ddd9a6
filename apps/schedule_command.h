// `sadari schedule`: generate, validate and simulate a pipeline schedule, then print
// its timeline (text), and optionally write an SVG picture and print the numbers as
// JSON. Local to one process; needs no config file and no MPI.
#pragma once

#include <string>
#include <vector>

namespace sadari {

// Runs `sadari schedule <args...>`; returns the exit code. Throws UsageError for
// command-line mistakes and Error for schedules that cannot run (named options).
int cmd_schedule(const std::vector<std::string>& args);

}  // namespace sadari
