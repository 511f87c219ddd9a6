// Times a PipelineSchedule (pipeline_schedule.h) from per-chunk costs: each rank's
// timeline, the makespan, the bubble and the peak number of in-flight activations.
//
// Model (the validator's semantics): a rank runs its list in order, one compute at a
// time. A send takes no time on the rank; its data arrives `p2p` later. A receive
// takes no time but waits until its data has arrived. Compute costs per chunk:
//   forward F, backward_input B, backward_weight W, backward (full) B + W;
//   an overlapped pair (overlap_with_next) costs `overlapped_f_b` when set, else the sum
//   of its two computes (i.e. no overlap benefit). Within a pair the simulator splits
//   the pair's time between its two actions in proportion to their own costs.
// Bubble of a rank = makespan - its compute time (idle time, including waiting at the
// start and end); total bubble = makespan * P - total compute; fraction = total /
// (makespan * P).
// In-flight activations of a rank: forwards that ran on it whose backward (full
// backward, or the W of a split backward: W still needs the stored inputs) has not
// finished; the peak is the maximum over the rank's list.
// Requires a schedule that passes validate_schedule (throws Error on deadlock).
#pragma once

#include <optional>
#include <vector>

#include "parallel/pipeline_schedule.h"

namespace sadari {

struct SimulationCosts {
  double forward = 1.0;          // F
  double backward_input = 1.0;   // B
  double backward_weight = 1.0;  // W
  std::optional<double> overlapped_f_b;  // F&B of an overlapped pair; unset: F + B(+W)
  double p2p = 0.0;              // transfer time of one message
};

struct TimedAction {
  double start = 0.0, end = 0.0;  // end == start for sends and receives
};

struct RankTimeline {
  std::vector<TimedAction> times;  // parallel to schedule.actions(rank)
  double compute = 0.0;            // busy time
  double bubble = 0.0;             // makespan - compute
  int peak_activations = 0;
};

struct SimulationResult {
  std::vector<RankTimeline> ranks;
  double makespan = 0.0;
  double total_compute = 0.0;
  double total_bubble = 0.0;   // makespan * P - total_compute
  double bubble_fraction = 0.0;
};

// Cost of one compute action (pairs not merged).
double compute_cost(const Action& a, const SimulationCosts& costs);

SimulationResult simulate_schedule(const PipelineSchedule& schedule,
                                   const SimulationCosts& costs);

// Peak in-flight activations of one rank, from its list alone (no timing needed).
int peak_activations(const PipelineSchedule& schedule, int rank);

}  // namespace sadari
