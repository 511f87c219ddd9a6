// validate_schedule (parallel/pipeline_validator.h): every generator's schedules pass
// over a grid of P and M; deliberately broken schedules are caught with the rank and
// action named.
#include "parallel/pipeline_validator.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "core/error.h"
#include "parallel/pipeline_generators.h"
#include "pipeline_test_util.h"

namespace sadari {
namespace {

// Runs validate_schedule and returns the error text ("" when it passes).
std::string validation_error(const PipelineSchedule& s) {
  try {
    validate_schedule(s);
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The index of the first action of `rank` with this kind and micro-batch.
size_t find_action(const PipelineSchedule& s, int rank, ActionKind kind, int microbatch) {
  const auto& list = s.actions(rank);
  for (size_t i = 0; i < list.size(); ++i)
    if (list[i].kind == kind && list[i].microbatch == microbatch) return i;
  ADD_FAILURE() << "no " << to_string(kind) << microbatch << " on rank " << rank;
  return 0;
}

TEST(PipelineValidator, EveryGeneratorPassesOnAGridOfStagesAndMicrobatches) {
  for (ScheduleKind kind : testing::all_schedule_kinds())
    for (int P : {2, 4, 8})
      for (int M : testing::runnable_microbatches(kind, P)) {
        const std::vector<int> chunk_choices =
            kind == ScheduleKind::interleaved_1f1b ? std::vector<int>{2, 3} : std::vector<int>{0};
        for (int V : chunk_choices) {
          const PipelineSchedule s = generate_schedule({kind, P, M, V});
          EXPECT_EQ(validation_error(s), "")
              << to_string(kind) << " P=" << P << " M=" << M << " V=" << V;
          // Every rank does work, and every compute of every micro-batch is there:
          // M forwards per chunk per rank (dualpipe: half of them per chunk).
          for (int r = 0; r < P; ++r) {
            const auto& list = s.actions(r);
            const auto forwards = std::count_if(list.begin(), list.end(), [](const Action& a) {
              return a.kind == ActionKind::forward;
            });
            const int expected = kind == ScheduleKind::dualpipe ? M : M * s.chunks_per_rank();
            EXPECT_EQ(forwards, expected) << to_string(kind) << " P=" << P << " M=" << M;
          }
        }
      }
}

TEST(PipelineValidator, CatchesAMissingBackward) {
  PipelineSchedule s = generate_schedule({ScheduleKind::one_f_one_b, 4, 8, 0});
  auto& list = s.mutable_actions(2);
  list.erase(list.begin() + static_cast<long>(find_action(s, 2, ActionKind::backward, 5)));
  const std::string e = validation_error(s);
  EXPECT_TRUE(contains(e, "rank 2 micro-batch 5")) << e;
  EXPECT_TRUE(contains(e, "backward")) << e;
}

TEST(PipelineValidator, CatchesAWeightPassBeforeItsInputPass) {
  PipelineSchedule s = generate_schedule({ScheduleKind::zb_h1, 4, 8, 0});
  auto& list = s.mutable_actions(1);
  const size_t w = find_action(s, 1, ActionKind::backward_weight, 3);
  const size_t b = find_action(s, 1, ActionKind::backward_input, 3);
  const Action weight = list[w];
  list.erase(list.begin() + static_cast<long>(w));
  list.insert(list.begin() + static_cast<long>(b), weight);
  const std::string e = validation_error(s);
  EXPECT_TRUE(contains(e, "backward_weight before its backward_input")) << e;
}

TEST(PipelineValidator, CatchesAForwardThatRunsTwice) {
  PipelineSchedule s = generate_schedule({ScheduleKind::gpipe, 2, 3, 0});
  auto& list = s.mutable_actions(0);
  list.push_back(list[find_action(s, 0, ActionKind::forward, 1)]);
  const std::string e = validation_error(s);
  EXPECT_TRUE(contains(e, "rank 0 action")) << e;
  EXPECT_TRUE(contains(e, "runs twice")) << e;
}

TEST(PipelineValidator, CatchesUnmatchedAndMisaddressedMessages) {
  // Rank 1's send of micro-batch 4's activation loses its receive on rank 2: the
  // forward that consumes it has no receive before it.
  PipelineSchedule s = generate_schedule({ScheduleKind::one_f_one_b, 4, 6, 0});
  auto& list = s.mutable_actions(2);
  list.erase(list.begin() + static_cast<long>(find_action(s, 2, ActionKind::recv_activation, 4)));
  std::string e = validation_error(s);
  EXPECT_TRUE(contains(e, "rank 2 micro-batch 4")) << e;
  EXPECT_TRUE(contains(e, "recv_activation")) << e;

  // A send to the wrong rank names rank and action index.
  PipelineSchedule t = generate_schedule({ScheduleKind::one_f_one_b, 4, 6, 0});
  const size_t i = find_action(t, 1, ActionKind::send_activation, 2);
  t.mutable_actions(1)[i].peer = 3;
  e = validation_error(t);
  EXPECT_TRUE(contains(e, "rank 1 action " + std::to_string(i))) << e;
  EXPECT_TRUE(contains(e, "peer should be rank 2")) << e;

  // The same activation sent twice: the second send has no receive of its own.
  PipelineSchedule u = generate_schedule({ScheduleKind::gpipe, 2, 2, 0});
  u.mutable_actions(0).push_back(u.actions(0)[find_action(u, 0, ActionKind::send_activation, 0)]);
  e = validation_error(u);
  EXPECT_TRUE(contains(e, "duplicate message")) << e;
  EXPECT_TRUE(contains(e, "rank 0 action " + std::to_string(u.actions(0).size() - 1))) << e;
}

TEST(PipelineValidator, CatchesADeadlockingOrder) {
  // GPipe on 2 ranks, 1 micro-batch: rank 0 = F0 sendA recvG B0. Moving the gradient
  // receive to the front keeps every local rule (it is still before B0) but rank 0 now
  // waits for a gradient that needs its own activation first.
  PipelineSchedule s = generate_schedule({ScheduleKind::gpipe, 2, 1, 0});
  auto& list = s.mutable_actions(0);
  const size_t g = find_action(s, 0, ActionKind::recv_gradient, 0);
  const Action recv = list[g];
  list.erase(list.begin() + static_cast<long>(g));
  list.insert(list.begin(), recv);
  const std::string e = validation_error(s);
  EXPECT_TRUE(contains(e, "deadlock")) << e;
  EXPECT_TRUE(contains(e, "rank 0 at action 0")) << e;
  EXPECT_TRUE(contains(e, "rank 1 at action 0")) << e;
}

TEST(PipelineValidator, CatchesADeadlockBetweenTwoRanksInTheSteadyPhase) {
  // 1F1B on 2 ranks with two edits that are each harmless alone: rank 0 runs F2 (and
  // sends its activation) only after B1, and rank 1 waits for that activation before
  // its B1, whose gradient rank 0's B1 needs: a cycle.
  PipelineSchedule s = generate_schedule({ScheduleKind::one_f_one_b, 2, 4, 0});
  auto& r0 = s.mutable_actions(0);
  const size_t f2 = find_action(s, 0, ActionKind::forward, 2);
  const Action forward = r0[f2], send = r0[f2 + 1];
  ASSERT_EQ(send.kind, ActionKind::send_activation);
  r0.erase(r0.begin() + static_cast<long>(f2), r0.begin() + static_cast<long>(f2) + 2);
  const size_t b1 = find_action(s, 0, ActionKind::backward, 1);
  r0.insert(r0.begin() + static_cast<long>(b1) + 1, {forward, send});
  // Rank 1: receive micro-batch 2's activation before running B1.
  auto& r1 = s.mutable_actions(1);
  const size_t ra2 = find_action(s, 1, ActionKind::recv_activation, 2);
  const Action recv = r1[ra2];
  r1.erase(r1.begin() + static_cast<long>(ra2));
  r1.insert(r1.begin() + static_cast<long>(find_action(s, 1, ActionKind::backward, 1)), recv);
  const std::string e = validation_error(s);
  EXPECT_TRUE(contains(e, "deadlock")) << e;
  EXPECT_TRUE(contains(e, "rank 1 at action")) << e;
}

}  // namespace
}  // namespace sadari

namespace sadari {
namespace {

TEST(PipelineValidator, CatchesDualPipeActionsOnTheWrongDirectionOrBrokenPairs) {
  // A second-half micro-batch (flows up on chunk 1) run on chunk 0.
  PipelineSchedule s = generate_schedule({ScheduleKind::dualpipe, 4, 8, 0});
  const size_t f = find_action(s, 0, ActionKind::forward, 4);
  s.mutable_actions(0)[f].chunk = 0;
  std::string e = validation_error(s);
  EXPECT_TRUE(contains(e, "rank 0 action " + std::to_string(f))) << e;
  EXPECT_TRUE(contains(e, "does not pass this chunk")) << e;

  // An overlapped pair whose partner is a message, not a compute.
  PipelineSchedule t = generate_schedule({ScheduleKind::dualpipe_v, 4, 8, 0});
  auto& list = t.mutable_actions(1);
  size_t i = 0;
  while (!(is_compute(list[i].kind) && i + 1 < list.size() && !is_compute(list[i + 1].kind))) ++i;
  list[i].overlap_with_next = true;
  e = validation_error(t);
  EXPECT_TRUE(contains(e, "rank 1 action " + std::to_string(i))) << e;
  EXPECT_TRUE(contains(e, "overlapped")) << e;
}

}  // namespace
}  // namespace sadari
