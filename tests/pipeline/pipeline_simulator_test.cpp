// simulate_schedule (parallel/pipeline_simulator.h) reproduces the published bubbles
// and activation peaks of each schedule family, and its timelines obey the schedule's
// dependencies.
//
// Notation: the simulator's costs are per chunk: F forward, B input backward, W weight
// backward, full backward B + W. Published formulas that write B for the full
// backward (DualPipe README) are restated with Bfull = B + W.
#include "parallel/pipeline_simulator.h"

#include <gtest/gtest.h>

#include <map>
#include <tuple>

#include "core/error.h"
#include "parallel/pipeline_generators.h"
#include "pipeline_test_util.h"

namespace sadari {
namespace {

using testing::max_bubble;
using testing::max_peak;
using testing::min_bubble;

SimulationCosts costs(double f, double b, double w) {
  SimulationCosts c;
  c.forward = f;
  c.backward_input = b;
  c.backward_weight = w;
  return c;
}

struct Costs {
  double f, b, w;
};
// Unequal costs, so that a formula with the wrong coefficients cannot pass by chance.
const std::vector<Costs> kCostGrid = {{1, 1, 1}, {2, 1, 1}, {1, 2, 1}, {3, 2, 1}, {1, 1, 0.5}};

// 1F1B and GPipe: every rank idles (P-1)(F+B) with B the full backward; 1F1B keeps
// at most min(P, M) activations (on rank 0), GPipe all M.
TEST(PipelineSimulator, GPipeAnd1F1BBubbleIsPMinus1TimesFPlusB) {
  for (ScheduleKind kind : {ScheduleKind::gpipe, ScheduleKind::one_f_one_b})
    for (int P : {4, 8, 16})
      for (int M : {P, 2 * P + 3, 32})
        for (const Costs& c : kCostGrid) {
          const auto s = generate_schedule({kind, P, M, 0});
          const auto r = simulate_schedule(s, costs(c.f, c.b, c.w));
          const double full = c.f + c.b + c.w;
          const double bubble = (P - 1) * full;
          EXPECT_DOUBLE_EQ(r.makespan, (M + P - 1) * full) << to_string(kind) << P << " " << M;
          EXPECT_DOUBLE_EQ(max_bubble(r), bubble) << to_string(kind) << P << " " << M;
          EXPECT_DOUBLE_EQ(min_bubble(r), bubble) << to_string(kind) << P << " " << M;
          EXPECT_DOUBLE_EQ(r.total_bubble, P * bubble);
          EXPECT_DOUBLE_EQ(r.bubble_fraction, bubble / r.makespan);
          const int peak = kind == ScheduleKind::gpipe ? M : std::min(P, M);
          EXPECT_EQ(r.ranks[0].peak_activations, peak) << to_string(kind) << P << " " << M;
          EXPECT_EQ(max_peak(r), peak);
        }
}

TEST(PipelineSimulator, OneF1BWithFewerMicrobatchesThanStagesKeepsMActivations) {
  const auto r = simulate_schedule(generate_schedule({ScheduleKind::one_f_one_b, 8, 3, 0}),
                                   costs(1, 1, 1));
  EXPECT_EQ(r.ranks[0].peak_activations, 3);
}

// A transfer cost p adds one transfer per stage boundary to each of GPipe's forward
// and backward waves. (1F1B pays more: its steady phase waits for each gradient.)
TEST(PipelineSimulator, TransferCostLengthensGPipeByTwoTransfersPerBoundary) {
  for (int P : {4, 8}) {
    SimulationCosts c = costs(2, 1, 1);
    c.p2p = 0.25;
    const auto r = simulate_schedule(generate_schedule({ScheduleKind::gpipe, P, 16, 0}), c);
    EXPECT_DOUBLE_EQ(r.makespan, (16 + P - 1) * 4.0 + 2 * (P - 1) * 0.25);
    const auto one = simulate_schedule(generate_schedule({ScheduleKind::one_f_one_b, P, 16, 0}), c);
    EXPECT_GT(one.makespan, (16 + P - 1) * 4.0 + 2 * (P - 1) * 0.25);
  }
}

// Interleaved 1F1B with V chunks of per-chunk cost (f, b): bubble (P-1)(f+b), i.e.
// (P-1)(F+B)/V for a rank's whole stage cost F = V f.
TEST(PipelineSimulator, InterleavedBubbleIsDividedByTheChunkCount) {
  for (int V : {2, 3, 4})
    for (int P : {4, 8, 16})
      for (int M : {P, 2 * P, 3 * P})
        for (const Costs& c : kCostGrid) {
          const auto s = generate_schedule({ScheduleKind::interleaved_1f1b, P, M, V});
          const auto r = simulate_schedule(s, costs(c.f, c.b, c.w));
          const double stage_cost = V * (c.f + c.b + c.w);  // F + B of a rank's whole stage
          EXPECT_DOUBLE_EQ(max_bubble(r), (P - 1) * stage_cost / V) << V << " " << P << " " << M;
          EXPECT_DOUBLE_EQ(min_bubble(r), (P - 1) * stage_cost / V) << V << " " << P << " " << M;
          // Megatron's warm-up: 2(P-1) + (V-1)P forwards, plus the steady one.
          EXPECT_EQ(r.ranks[0].peak_activations, std::min(2 * (P - 1) + (V - 1) * P + 1, M * V));
        }
}

// ZB-H1 (Qi et al. 2024): bubble (P-1)(F + B - W) with B the input backward, i.e.
// (P-1)(F + Bfull - 2W), under the paper's condition that W is no longer than F or B;
// the activation peak stays P (a forward counts until its W).
TEST(PipelineSimulator, ZbH1BubbleIsPMinus1TimesFPlusBMinusW) {
  for (int P : {4, 8, 16})
    for (int M : {P, 2 * P, 3 * P + 1})
      for (const Costs& c : kCostGrid) {
        ASSERT_LE(c.w, std::min(c.f, c.b));
        const auto s = generate_schedule({ScheduleKind::zb_h1, P, M, 0});
        const auto r = simulate_schedule(s, costs(c.f, c.b, c.w));
        const double full = c.b + c.w;
        EXPECT_DOUBLE_EQ(max_bubble(r), (P - 1) * (c.f + full - 2 * c.w)) << P << " " << M;
        EXPECT_DOUBLE_EQ(min_bubble(r), (P - 1) * (c.f + full - 2 * c.w)) << P << " " << M;
        EXPECT_EQ(max_peak(r), P);
        EXPECT_EQ(r.ranks[0].peak_activations, P);
        // Strictly better than 1F1B at the same costs.
        const auto one = simulate_schedule(generate_schedule({ScheduleKind::one_f_one_b, P, M, 0}),
                                           costs(c.f, c.b, c.w));
        EXPECT_LT(r.makespan, one.makespan);
      }
}

// DualPipe (DeepSeek-V3 report; DualPipe README table): bubble (P/2-1)(F&B + Bfull - 3W)
// for P ranks, where F&B is the cost of an overlapped forward+backward pair; that is the
// bubble of the ranks at the ends of the pipeline, which have the fewest overlapped
// pairs (the others idle less). Activation peak P+1 chunk activations per rank.
// Stated assumptions: an overlapped pair costs at least its longer part
// (max(F, Bfull) <= F&B <= F + Bfull); the forward is no longer than the input backward
// (F <= B; with F > B the warm-up's forwards, not the formula, set the bubble); W <= B.
// When F < B the schedule does a little better than the formula: the rank where the two
// directions meet runs its first F0 and B1 unpaired (as DeepSeek's reference schedule
// does), which lets the neighbour start earlier; the saving is at most B - F.
// DualPipeV on P ranks is DualPipe on 2P half-size stages: (P-1)(F&B + Bfull - 3W)
// with per-chunk costs, peak 2P+1 half-size chunk activations.
TEST(PipelineSimulator, DualPipeBubbleMatchesThePublishedFormula) {
  const std::vector<Costs> grid = {{1, 1, 1}, {1, 2, 1}, {2, 2, 1}, {1, 1, 0.5}, {1, 3, 1}};
  for (ScheduleKind kind : {ScheduleKind::dualpipe, ScheduleKind::dualpipe_v})
    for (int P : {4, 8, 16})
      for (int M : {2 * P, 3 * P, 4 * P})
        for (const Costs& c : grid)
          for (double hidden : {0.0, 0.5, 1.0}) {
            // The pair costs the longer of its two parts plus the part of the shorter one
            // that the overlap does not hide (0: none hidden, 1: fully hidden).
            const double full = c.b + c.w;
            SimulationCosts sc = costs(c.f, c.b, c.w);
            const double pair = std::max(c.f, full) + (1 - hidden) * std::min(c.f, full);
            sc.overlapped_f_b = pair;
            const auto r = simulate_schedule(generate_schedule({kind, P, M, 0}), sc);
            const int arm = kind == ScheduleKind::dualpipe ? P / 2 : P;  // ranks per direction
            const double formula = (arm - 1) * (pair + full - 3 * c.w);
            const std::string what = detail::cat(to_string(kind), " P=", P, " M=", M, " F=", c.f,
                                                 " B=", c.b, " W=", c.w, " F&B=", pair);
            if (c.f == c.b)
              EXPECT_NEAR(max_bubble(r), formula, 1e-9) << what;
            else  // the meeting rank's unpaired first F0, B1 saves up to B - F
              EXPECT_LE(max_bubble(r), formula + 1e-9) << what;
            EXPECT_GE(max_bubble(r), formula - (c.b - c.f) - 1e-9) << what;
            if (hidden == 0.0) {  // no overlap benefit: every rank idles the same
              EXPECT_NEAR(min_bubble(r), max_bubble(r), 1e-9);
            }
            const int peak = kind == ScheduleKind::dualpipe ? P + 1 : 2 * P + 1;
            EXPECT_EQ(r.ranks[0].peak_activations, peak) << to_string(kind) << " P=" << P;
            EXPECT_LE(max_peak(r), peak);
          }
}

// Whatever the schedule: computes on a rank do not overlap in time, a receive ends no
// earlier than its send plus the transfer, and the rank's busy time is its computes.
TEST(PipelineSimulator, TimelinesRespectMessagesAndNeverOverlapOnARank) {
  for (ScheduleKind kind : testing::all_schedule_kinds()) {
    const int P = 4;
    const int M = testing::runnable_microbatches(kind, P).back();
    const auto s = generate_schedule({kind, P, M, 0});
    SimulationCosts c = costs(1.5, 1, 0.5);
    c.p2p = 0.3;
    const auto r = simulate_schedule(s, c);
    std::map<std::tuple<int, int, int, int>, double> sent;  // (src, dst, tag) -> time
    for (int rank = 0; rank < P; ++rank)
      for (size_t i = 0; i < s.actions(rank).size(); ++i) {
        const Action& a = s.actions(rank)[i];
        if (is_send(a.kind))
          sent[{rank, a.peer, s.message_tag(rank, a), 0}] =
              r.ranks[static_cast<size_t>(rank)].times[i].start;
      }
    for (int rank = 0; rank < P; ++rank) {
      double last_end = 0, busy = 0;
      const auto& times = r.ranks[static_cast<size_t>(rank)].times;
      for (size_t i = 0; i < s.actions(rank).size(); ++i) {
        const Action& a = s.actions(rank)[i];
        EXPECT_GE(times[i].start + 1e-12, last_end) << to_string(kind) << " rank " << rank;
        last_end = times[i].end;
        if (is_compute(a.kind)) busy += times[i].end - times[i].start;
        if (is_recv(a.kind)) {
          const double send_time = sent.at({a.peer, rank, s.message_tag(rank, a), 0});
          EXPECT_GE(times[i].start + 1e-12, send_time + c.p2p) << to_string(kind);
        }
      }
      EXPECT_NEAR(busy, r.ranks[static_cast<size_t>(rank)].compute, 1e-9);
      EXPECT_LE(last_end, r.makespan + 1e-9);
    }
  }
}

}  // namespace
}  // namespace sadari
