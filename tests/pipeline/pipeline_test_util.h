// Helpers for the pipeline schedule tests: the grid of valid (kind, P, M, V) and
// per-rank summaries of a simulation.
#pragma once

#include <algorithm>
#include <vector>

#include "parallel/pipeline_generators.h"
#include "parallel/pipeline_simulator.h"

namespace sadari::testing {

inline const std::vector<ScheduleKind>& all_schedule_kinds() {
  static const std::vector<ScheduleKind> kinds = {
      ScheduleKind::gpipe,  ScheduleKind::one_f_one_b, ScheduleKind::interleaved_1f1b,
      ScheduleKind::zb_h1, ScheduleKind::dualpipe,    ScheduleKind::dualpipe_v};
  return kinds;
}

// Micro-batch counts each kind can run at P ranks, small to large, including edge cases.
inline std::vector<int> runnable_microbatches(ScheduleKind kind, int P) {
  switch (kind) {
    case ScheduleKind::interleaved_1f1b: return {P, 2 * P, 3 * P};
    case ScheduleKind::dualpipe: return {2 * P, 2 * P + 2, 3 * P, 4 * P + 2};
    case ScheduleKind::dualpipe_v: return {2 * P, 2 * P + 1, 3 * P, 4 * P + 3};
    default: return {1, P - 1 > 0 ? P - 1 : 1, P, P + 1, 2 * P, 3 * P + 1};
  }
}

inline double max_bubble(const SimulationResult& r) {
  double m = 0;
  for (const auto& t : r.ranks) m = std::max(m, t.bubble);
  return m;
}

inline double min_bubble(const SimulationResult& r) {
  double m = r.makespan;
  for (const auto& t : r.ranks) m = std::min(m, t.bubble);
  return m;
}

inline int max_peak(const SimulationResult& r) {
  int m = 0;
  for (const auto& t : r.ranks) m = std::max(m, t.peak_activations);
  return m;
}

}  // namespace sadari::testing
