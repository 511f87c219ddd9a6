// Parity: `mpirun -np N sadari train` in a data/expert-parallel layout computes the
// one-process run step for step. The central correctness test of distributed
// training (design brief, "Parallel conventions").
//
// Each test trains tiny-moe for 30 steps in one layout (same global batch, same
// seed) and compares every step's loss and gradient norm, and the final
// validation loss, read from the run's metrics.jsonl, with a one-process run of
// the same config (`sadari train` started directly: no MPI at all) within 1e-5
// relative. 30 steps cover warm-up, clipping (the early gradient norms exceed
// optim.grad_clip = 1) and many aux-loss-free bias updates, so a wrong scale of
// one gradient group, a norm counted twice or a bias moved from one rank's counts
// shows up as a diverging loss within a few steps.
//
// The bad-input tests check that a layout the job cannot run ends every rank
// with one clear message from rank 0 and a non-zero exit, within a bounded time.
//
// The run and comparison machinery is in tests/parity/parity_fixture.h;
// pipeline layouts are in tests/parity/pipeline_parity_test.cpp.
#include "tests/parity/parity_fixture.h"

namespace sadari::parity {
namespace {

using ParityTest = ParityFixture;

TEST_F(ParityTest, DataParallel2) { expect_parity(2, {"parallel.dp=2"}); }

TEST_F(ParityTest, DataParallel2ExpertParallel2) {
  expect_parity(2, {"parallel.dp=2", "parallel.ep=2"});
}

// 16 sequences over 4 ranks: micro-batches of 4 (the reference uses 8; the
// micro-batch split is not part of the math). Validation reads eval_batches
// micro-batches, so 8 of 4 read the reference's 4 of 8 sequences.
TEST_F(ParityTest, DataParallel4ExpertParallel2) {
  expect_parity(4,
                {"parallel.dp=4", "parallel.ep=2", "train.micro_batch=4", "train.eval_batches=8"});
}

TEST_F(ParityTest, DataParallel4ExpertParallel4) {
  expect_parity(4,
                {"parallel.dp=4", "parallel.ep=4", "train.micro_batch=4", "train.eval_batches=8"});
}

// Replicated optimizer state (all-reduce instead of reduce-scatter + all-gather).
TEST_F(ParityTest, DataParallel2ZeroStage0) {
  expect_parity(2, {"parallel.dp=2", "parallel.zero_stage=0"});
}

TEST_F(ParityTest, DataParallel4ExpertParallel2ZeroStage0) {
  expect_parity(4, {"parallel.dp=4", "parallel.ep=2", "train.micro_batch=4", "train.eval_batches=8",
                    "parallel.zero_stage=0"});
}

TEST_F(ParityTest, WorldSizeNotMatchingTheLayoutIsRejected) {
  expect_rejected(2, {"parallel.dp=4", "train.micro_batch=4", "train.eval_batches=8"},
                  "needs 4 processes, but the job has 2");
}

TEST_F(ParityTest, EpNotDividingDpIsRejected) {
  expect_rejected(4,
                  {"parallel.dp=4", "parallel.ep=3", "train.micro_batch=4", "train.eval_batches=8"},
                  "ep (3) does not divide dp (4)");
}

TEST_F(ParityTest, EpNotDividingExpertsIsRejected) {
  expect_rejected(4,
                  {"parallel.dp=4", "parallel.ep=4", "model.experts=6", "train.micro_batch=4",
                   "train.eval_batches=8"},
                  "ep (4) does not divide experts (6)");
}

}  // namespace
}  // namespace sadari::parity
