#include "parallel/pipeline_simulator.h"

#include <algorithm>
#include <map>

#include "core/error.h"

namespace sadari {

double compute_cost(const Action& a, const SimulationCosts& c) {
  switch (a.kind) {
    case ActionKind::forward: return c.forward;
    case ActionKind::backward: return c.backward_input + c.backward_weight;
    case ActionKind::backward_input: return c.backward_input;
    case ActionKind::backward_weight: return c.backward_weight;
    default: return 0.0;
  }
}

int peak_activations(const PipelineSchedule& s, int rank) {
  int live = 0, peak = 0;
  for (const Action& a : s.actions(rank)) {
    if (a.kind == ActionKind::forward) peak = std::max(peak, ++live);
    if (a.kind == ActionKind::backward || a.kind == ActionKind::backward_weight) --live;
  }
  return peak;
}

SimulationResult simulate_schedule(const PipelineSchedule& s, const SimulationCosts& costs) {
  for (double c : {costs.forward, costs.backward_input, costs.backward_weight, costs.p2p,
                   costs.overlapped_f_b.value_or(0.0)})
    if (!(c >= 0.0))
      fail(detail::cat("costs must be non-negative numbers, got ", c), "pipeline simulator",
           "pass F, B, W, F&B and p2p costs >= 0");
  const int P = s.ranks();
  SimulationResult result;
  result.ranks.resize(static_cast<size_t>(P));
  std::vector<size_t> next(static_cast<size_t>(P), 0);
  std::vector<double> clock(static_cast<size_t>(P), 0.0);
  std::map<MessageKey, double> arrival;
  for (int r = 0; r < P; ++r)
    result.ranks[static_cast<size_t>(r)].times.resize(s.actions(r).size());

  bool progress = true;
  while (progress) {
    progress = false;
    for (int r = 0; r < P; ++r) {
      const auto& list = s.actions(r);
      auto& timeline = result.ranks[static_cast<size_t>(r)];
      size_t& i = next[static_cast<size_t>(r)];
      double& t = clock[static_cast<size_t>(r)];
      while (i < list.size()) {
        const Action& a = list[i];
        if (is_recv(a.kind)) {
          const auto it = arrival.find(message_key(r, a));
          if (it == arrival.end()) break;
          t = std::max(t, it->second);
          timeline.times[i] = {t, t};
          ++i;
        } else if (is_send(a.kind)) {
          arrival[message_key(r, a)] = t + costs.p2p;
          timeline.times[i] = {t, t};
          ++i;
        } else {
          // A compute, or an overlapped group i..j.
          size_t j = i;
          while (list[j].overlap_with_next && j + 1 < list.size()) ++j;
          double sum = 0.0;
          for (size_t k = i; k <= j; ++k) sum += compute_cost(list[k], costs);
          const double group =
              (j > i && costs.overlapped_f_b) ? *costs.overlapped_f_b : sum;
          double start = t;
          for (size_t k = i; k <= j; ++k) {
            const double share = sum > 0 ? group * compute_cost(list[k], costs) / sum : 0.0;
            timeline.times[k] = {start, start + share};
            start += share;
          }
          t += group;
          timeline.compute += group;
          i = j + 1;
        }
        progress = true;
      }
    }
  }
  for (int r = 0; r < P; ++r)
    if (next[static_cast<size_t>(r)] != s.actions(r).size())
      fail(detail::cat("schedule deadlocks at action ", next[static_cast<size_t>(r)]),
           detail::cat("pipeline simulator rank ", r), "run validate_schedule for details");

  for (int r = 0; r < P; ++r) result.makespan = std::max(result.makespan, clock[static_cast<size_t>(r)]);
  for (int r = 0; r < P; ++r) {
    auto& tl = result.ranks[static_cast<size_t>(r)];
    tl.bubble = result.makespan - tl.compute;
    tl.peak_activations = peak_activations(s, r);
    result.total_compute += tl.compute;
  }
  result.total_bubble = result.makespan * P - result.total_compute;
  result.bubble_fraction = result.makespan > 0 ? result.total_bubble / (result.makespan * P) : 0.0;
  return result;
}

}  // namespace sadari
