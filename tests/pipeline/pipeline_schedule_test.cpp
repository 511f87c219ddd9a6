// The stage mapping and message tags of PipelineSchedule (parallel/pipeline_schedule.h).
#include "parallel/pipeline_schedule.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <tuple>

#include "core/error.h"
#include "parallel/pipeline_generators.h"
#include "pipeline_test_util.h"

namespace sadari {
namespace {

TEST(PipelineSchedule, InterleavedChunkCOfRankRIsStageCPPlusR) {
  const PipelineSchedule s = generate_schedule({ScheduleKind::interleaved_1f1b, 4, 8, 3});
  EXPECT_EQ(s.num_stages(), 12);
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 3; ++c) {
      EXPECT_EQ(s.stage_of(r, c), c * 4 + r);
      EXPECT_EQ(s.location_of(5, c * 4 + r), (StageLocation{r, c}));
    }
  // Rank 3's chunk 0 hands over to rank 0's chunk 1.
  EXPECT_EQ(s.next_location(0, {3, 0}), (StageLocation{0, 1}));
  EXPECT_FALSE(s.next_location(0, {3, 2}).has_value());
  EXPECT_TRUE(s.is_last_stage(0, {3, 2}));
  EXPECT_TRUE(s.is_first_stage(0, {0, 0}));
}

TEST(PipelineSchedule, DualPipeRankRHoldsStagesRAndPMinus1MinusR) {
  const int P = 4, M = 8;
  const PipelineSchedule s = generate_schedule({ScheduleKind::dualpipe, P, M, 0});
  EXPECT_EQ(s.num_stages(), P);
  for (int r = 0; r < P; ++r) {
    EXPECT_EQ(s.stage_of(r, 0), r);
    EXPECT_EQ(s.stage_of(r, 1), P - 1 - r);
  }
  // First half flows down on chunk 0, second half up on chunk 1.
  for (int stage = 0; stage < P; ++stage) {
    EXPECT_EQ(s.location_of(0, stage), (StageLocation{stage, 0}));
    EXPECT_EQ(s.location_of(M - 1, stage), (StageLocation{P - 1 - stage, 1}));
  }
  EXPECT_TRUE(s.runs_microbatch(1, 0, M / 2 - 1));
  EXPECT_FALSE(s.runs_microbatch(1, 0, M / 2));
  EXPECT_TRUE(s.is_first_stage(M / 2, {P - 1, 1}));
  EXPECT_TRUE(s.is_last_stage(M / 2, {0, 1}));
  EXPECT_TRUE(s.is_last_stage(0, {P - 1, 0}));
}

TEST(PipelineSchedule, DualPipeVTurnsOnTheLastRankWithoutAMessage) {
  const int P = 4;
  const PipelineSchedule s = generate_schedule({ScheduleKind::dualpipe_v, P, 8, 0});
  EXPECT_EQ(s.num_stages(), 2 * P);
  for (int r = 0; r < P; ++r) {
    EXPECT_EQ(s.stage_of(r, 0), r);
    EXPECT_EQ(s.stage_of(r, 1), 2 * P - 1 - r);
  }
  EXPECT_EQ(s.next_location(3, {P - 1, 0}), (StageLocation{P - 1, 1}));
  EXPECT_TRUE(s.is_last_stage(3, {0, 1}));
  for (const Action& a : s.actions(P - 1))
    if (is_send(a.kind) || is_recv(a.kind)) {
      EXPECT_EQ(a.peer, P - 2) << describe(a);
    }
}

// Tags agree between a send and its receive and never repeat between one pair of ranks.
TEST(PipelineSchedule, MessageTagsMatchAndAreUniquePerRankPair) {
  for (ScheduleKind kind : testing::all_schedule_kinds()) {
    const int P = 4;
    const int M = testing::runnable_microbatches(kind, P).back();
    const PipelineSchedule s = generate_schedule({kind, P, M, 0});
    std::map<std::tuple<int, int, int>, int> sent;  // (src, dst, tag) -> count
    std::multiset<std::tuple<int, int, int>> received;
    for (int r = 0; r < P; ++r)
      for (const Action& a : s.actions(r)) {
        if (is_send(a.kind)) ++sent[{r, a.peer, s.message_tag(r, a)}];
        if (is_recv(a.kind)) received.insert({a.peer, r, s.message_tag(r, a)});
      }
    ASSERT_FALSE(sent.empty()) << to_string(kind);
    for (const auto& [key, count] : sent) {
      EXPECT_EQ(count, 1) << to_string(kind);
      EXPECT_EQ(received.count(key), 1u) << to_string(kind);
    }
    EXPECT_EQ(received.size(), sent.size()) << to_string(kind);
  }
}

TEST(PipelineSchedule, KindNamesRoundTripAndUnknownNamesAreRejected) {
  for (ScheduleKind kind : testing::all_schedule_kinds())
    EXPECT_EQ(parse_schedule_kind(to_string(kind), "--kind"), kind);
  try {
    parse_schedule_kind("zero-bubble", "--kind");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "--kind");
    EXPECT_NE(std::string(e.what()).find("zb-h1"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sadari
