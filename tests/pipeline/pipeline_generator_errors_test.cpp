// generate_schedule rejects what a schedule cannot run, naming the option and the fix.
#include <gtest/gtest.h>

#include "core/error.h"
#include "parallel/pipeline_generators.h"

namespace sadari {
namespace {

// The error of generating `request`, or a test failure if none.
Error error_of(const ScheduleRequest& request) {
  try {
    generate_schedule(request, "sadari schedule");
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "expected an error for " << to_string(request.kind);
  return Error("none");
}

void expect_mentions(const Error& e, const std::string& part) {
  EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
      << "'" << part << "' not in: " << e.what();
}

TEST(PipelineGeneratorErrors, FewerThanOneStageOrMicrobatch) {
  Error e = error_of({ScheduleKind::one_f_one_b, 0, 4, 0});
  expect_mentions(e, "--stages");
  EXPECT_EQ(e.where(), "sadari schedule");
  e = error_of({ScheduleKind::gpipe, 2, 0, 0});
  expect_mentions(e, "--microbatches");
}

TEST(PipelineGeneratorErrors, OddStagesForDualPipe) {
  const Error e = error_of({ScheduleKind::dualpipe, 3, 12, 0});
  expect_mentions(e, "even number of stages (--stages), got 3");
  expect_mentions(e, "dualpipev");
}

TEST(PipelineGeneratorErrors, MicrobatchCountsAScheduleCannotRun) {
  Error e = error_of({ScheduleKind::interleaved_1f1b, 4, 6, 2});
  expect_mentions(e, "multiple of the stages");
  expect_mentions(e, "set --microbatches to 8");
  e = error_of({ScheduleKind::dualpipe, 4, 9, 0});
  expect_mentions(e, "even number of micro-batches");
  e = error_of({ScheduleKind::dualpipe, 4, 6, 0});
  expect_mentions(e, "at least 2 x stages = 8 micro-batches");
  e = error_of({ScheduleKind::dualpipe_v, 4, 7, 0});
  expect_mentions(e, "set --microbatches to 8 or more");
}

TEST(PipelineGeneratorErrors, ChunkCountsTheKindDoesNotHold) {
  expect_mentions(error_of({ScheduleKind::interleaved_1f1b, 2, 4, 1}), "at least 2 chunks");
  expect_mentions(error_of({ScheduleKind::one_f_one_b, 2, 4, 2}), "--kind to interleaved");
  expect_mentions(error_of({ScheduleKind::dualpipe_v, 2, 4, 3}), "exactly 2 chunks");
}

// The trainer names config keys instead of command-line flags.
TEST(PipelineGeneratorErrors, NamesTheCallersOptions) {
  ScheduleOptionNames names;
  names.kind = "parallel.schedule";
  names.ranks = "parallel.pp";
  names.chunks = "parallel.chunks";
  try {
    generate_schedule({ScheduleKind::dualpipe, 5, 20, 2}, "run.yaml:3 parallel", names);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "run.yaml:3 parallel");
    expect_mentions(e, "(parallel.pp), got 5");
    expect_mentions(e, "set parallel.pp to 6, or parallel.schedule to dualpipev");
    EXPECT_EQ(std::string(e.what()).find("--"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sadari
