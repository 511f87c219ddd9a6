// DualPipe and DualPipeV generators (declared in pipeline_generators.h).
//
// Both share one per-rank template, written in terms of a rank's two "phases":
// phase 0 is the chunk whose micro-batches enter the pipeline nearer to this rank,
// phase 1 the other chunk. With D ranks per "arm" of the pipeline (D = P/2 for
// DualPipe, P for DualPipeV), h the rank's distance from the nearer end (DualPipe:
// min(r, P-1-r); DualPipeV: r) and N micro-batches per phase (M/2 resp. M), a rank runs
// the eight steps of the DualPipe paper/README:
//   1. 2(D-h-1)   F0                      warm-up of the nearer direction
//   2. h+1        F0, F1                  the other direction arrives
//   3. D-h-1      B1, W1, F1              first backwards, split so the input
//                                         gradient is sent before the weight pass
//   4. N-2D+h+1   (F0 & B1), (F1 & B0)    steady state: overlapped pairs (the first
//                                         F0, B1 of the meeting rank h = D-1 not overlapped)
//   5. D-h-1      B1, (F1 & B0)
//   6. h+1        B1, B0                  the last h+1 of these are split; their W waits
//   7. D-h-1      W, B0 (split, W waits)  waiting W passes fill the cool-down bubble
//   8. h+1        W                       the remaining waiting W passes
// Each phase's micro-batches run in increasing order. Step 4 needs N >= 2D-h-1; the
// generator requires N >= 2D (checked in generate_schedule).
// For DualPipe the second half of the ranks is the mirror image of the first: rank r
// and rank P-1-r have the same h with phases swapped (phase 0 of rank r >= P/2 is
// chunk 1, whose micro-batches enter at rank P-1).
#include <deque>

#include "core/error.h"
#include "parallel/pipeline_generators.h"

namespace sadari {

namespace {

struct PhaseMap {
  int chunk[2];             // the chunk of phase 0 and phase 1
  int first_microbatch[2];  // micro-batches of phase p: first_microbatch[p] + 0..N-1
};

void emit_dual_template(std::vector<Action>& list, int D, int h, int N, const PhaseMap& map) {
  int next_forward[2] = {0, 0}, next_backward[2] = {0, 0};
  std::deque<Action> waiting_w;
  auto push = [&](ActionKind kind, int phase, bool overlap_with_next = false) {
    Action a;
    a.kind = kind;
    a.chunk = map.chunk[phase];
    int& counter = kind == ActionKind::forward ? next_forward[phase] : next_backward[phase];
    SADARI_ASSERT(counter < N);
    a.microbatch = map.first_microbatch[phase] + counter++;
    a.overlap_with_next = overlap_with_next;
    list.push_back(a);
    return a;
  };
  auto backward_split = [&](int phase, bool w_now) {
    Action b = push(ActionKind::backward_input, phase);
    b.kind = ActionKind::backward_weight;
    if (w_now)
      list.push_back(b);
    else
      waiting_w.push_back(b);
  };
  auto run_waiting_w = [&]() {
    SADARI_ASSERT(!waiting_w.empty());
    list.push_back(waiting_w.front());
    waiting_w.pop_front();
  };
  for (int i = 0; i < 2 * (D - h - 1); ++i) push(ActionKind::forward, 0);
  for (int i = 0; i < h + 1; ++i) {
    push(ActionKind::forward, 0);
    push(ActionKind::forward, 1);
  }
  for (int i = 0; i < D - h - 1; ++i) {
    backward_split(1, /*w_now=*/true);
    push(ActionKind::forward, 1);
  }
  for (int i = 0; i < N - 2 * D + h + 1; ++i) {
    // The rank where the two directions meet (h = D-1) runs its first F0 and B1 one
    // after the other, not overlapped, so F0's activation leaves before B1 starts
    // (as DeepSeek's reference schedule does, to shorten the neighbour's wait).
    push(ActionKind::forward, 0, /*overlap_with_next=*/!(i == 0 && h == D - 1));
    push(ActionKind::backward, 1);
    push(ActionKind::forward, 1, true);
    push(ActionKind::backward, 0);
  }
  for (int i = 0; i < D - h - 1; ++i) {
    push(ActionKind::backward, 1);
    push(ActionKind::forward, 1, true);
    push(ActionKind::backward, 0);
  }
  // Step 6: 2(h+1) backwards, the last h+1 split with their W waiting.
  for (int i = 0; i < 2 * (h + 1); ++i) {
    const int phase = i % 2 == 0 ? 1 : 0;
    if (i < h + 1)
      push(ActionKind::backward, phase);
    else
      backward_split(phase, /*w_now=*/false);
  }
  for (int i = 0; i < D - h - 1; ++i) {
    run_waiting_w();
    backward_split(0, /*w_now=*/false);
  }
  while (!waiting_w.empty()) run_waiting_w();
  SADARI_ASSERT(next_forward[0] == N && next_forward[1] == N);
  SADARI_ASSERT(next_backward[0] == N && next_backward[1] == N);
}

}  // namespace

PipelineSchedule generate_dualpipe(int P, int M) {
  SADARI_ASSERT(P % 2 == 0 && M % 2 == 0 && M >= 2 * P);
  PipelineSchedule s(ScheduleKind::dualpipe, P, M, 2);
  const int N = M / 2, D = P / 2;
  for (int r = 0; r < P; ++r) {
    const bool first_half = r < D;
    const int h = first_half ? r : P - 1 - r;
    PhaseMap map = first_half ? PhaseMap{{0, 1}, {0, N}} : PhaseMap{{1, 0}, {N, 0}};
    emit_dual_template(s.mutable_actions(r), D, h, N, map);
  }
  insert_communication(s);
  return s;
}

PipelineSchedule generate_dualpipe_v(int P, int M) {
  SADARI_ASSERT(M >= 2 * P);
  PipelineSchedule s(ScheduleKind::dualpipe_v, P, M, 2);
  for (int r = 0; r < P; ++r)
    emit_dual_template(s.mutable_actions(r), P, r, M, PhaseMap{{0, 1}, {0, 0}});
  insert_communication(s);
  return s;
}

}  // namespace sadari
