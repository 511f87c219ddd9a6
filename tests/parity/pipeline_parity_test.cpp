// Parity under pipeline parallelism: `mpirun -np N sadari train` with pp > 1
// (alone, with dp, with dp and ep) computes the one-process run step for step:
// every step's loss and gradient norm and the validation loss within 1e-5
// relative (tests/parity/parity_fixture.h), for each schedule the trainer runs.
//
// The model is tiny-moe with 6 layers (1 dense + 5 MoE), so that 4 stages get
// uneven, cost-balanced splits and every stage but the first has MoE layers
// whose aux losses and bias updates must count exactly as in one process.
// Each test compares several layouts with one reference run to keep the suite
// short (a one-process reference is run once per test process).
//
// Bad input (more stages than layers, a micro-batch count the schedule cannot
// run, odd pp for DualPipe) is rejected by rank 0 with one message before any
// step.
#include "tests/parity/parity_fixture.h"

namespace sadari::parity {
namespace {

using PipelineParityTest = ParityFixture;

const std::vector<std::string> kSixLayers = {"model.layers=6"};

// A layout that needs smaller micro-batches is compared with a one-process run
// of the same micro-batch size: the split is not part of the math, but the GEMM
// shapes are part of the rounding, and 30 steps of rounding differences can flip
// a routing decision (seen with OpenBLAS's SkylakeX kernels, pp4 1F1B at step 28).
std::vector<std::string> with_micro_batch(std::vector<std::string> base, int micro) {
  base.push_back("train.micro_batch=" + std::to_string(micro));
  // eval_batches x micro_batch = 32: the same validation sequences as the default.
  base.push_back("train.eval_batches=" + std::to_string(32 / micro));
  return base;
}

// 16 sequences per step in micro-batches of 8 (M = 2) unless a layout needs more.
TEST_F(PipelineParityTest, OneFOneB) {
  expect_parity(2, {"parallel.pp=2"}, kSixLayers, "pp2 1f1b");
  expect_parity(4, {"parallel.pp=4"}, with_micro_batch(kSixLayers, 4), "pp4 1f1b");
  // An explicit, deliberately uneven split.
  expect_parity(2, {"parallel.pp=2", "parallel.stage_layers=\"1,5\""}, kSixLayers,
                "pp2 1f1b layers 1,5");
}

TEST_F(PipelineParityTest, InterleavedZeroBubbleAndDualPipe) {
  expect_parity(2, {"parallel.pp=2", "parallel.schedule=interleaved", "parallel.chunks=2"},
                kSixLayers, "pp2 interleaved x2");
  expect_parity(2, {"parallel.pp=2", "parallel.schedule=zb-h1"}, kSixLayers, "pp2 zb-h1");
  // DualPipeV needs M >= 2 pp: micro-batches of 4.
  expect_parity(2, {"parallel.pp=2", "parallel.schedule=dualpipev", "parallel.chunks=2"},
                with_micro_batch(kSixLayers, 4), "pp2 dualpipev");
  // DualPipe: each stage on two ranks, half of the micro-batches through each.
  expect_parity(2, {"parallel.pp=2", "parallel.schedule=dualpipe", "parallel.chunks=2"},
                with_micro_batch(kSixLayers, 4), "pp2 dualpipe");
}

// The same schedules on four stages. Eight layers (1 dense + 7 MoE) so that
// interleaved and DualPipeV (8 virtual stages) get one layer per stage.
const std::vector<std::string> kEightLayers = {"model.layers=8"};

TEST_F(PipelineParityTest, FourStageInterleavedZeroBubbleAndDualPipe) {
  expect_parity(4, {"parallel.pp=4", "parallel.schedule=interleaved", "parallel.chunks=2"},
                with_micro_batch(kEightLayers, 4), "pp4 interleaved x2");
  expect_parity(4, {"parallel.pp=4", "parallel.schedule=zb-h1"}, with_micro_batch(kEightLayers, 4),
                "pp4 zb-h1");
  // DualPipe and DualPipeV need M >= 2 pp = 8: micro-batches of 2.
  expect_parity(4, {"parallel.pp=4", "parallel.schedule=dualpipev", "parallel.chunks=2"},
                with_micro_batch(kEightLayers, 2), "pp4 dualpipev");
  expect_parity(4, {"parallel.pp=4", "parallel.schedule=dualpipe", "parallel.chunks=2"},
                with_micro_batch(kEightLayers, 2), "pp4 dualpipe");
}

TEST_F(PipelineParityTest, WithDataAndExpertParallelism) {
  expect_parity(4, {"parallel.pp=2", "parallel.dp=2"}, kSixLayers, "pp2 dp2");
  expect_parity(4, {"parallel.pp=2", "parallel.dp=2", "parallel.ep=2"}, kSixLayers,
                "pp2 dp2 ep2");
}

TEST_F(PipelineParityTest, MoreStagesThanLayersIsRejected) {
  expect_rejected(2,
                  {"model.layers=6", "parallel.pp=2", "parallel.schedule=interleaved",
                   "parallel.chunks=4"},
                  "pp x chunks (2 x 4 = 8 stages) exceeds layers (6)");
}

TEST_F(PipelineParityTest, MicroBatchCountTheScheduleCannotRunIsRejected) {
  // 16 / 8 = 2 micro-batches; DualPipeV over 2 ranks needs at least 4.
  expect_rejected(2, {"model.layers=6", "parallel.pp=2", "parallel.schedule=dualpipev",
                      "parallel.chunks=2"},
                  "schedule dualpipev cannot run 2 micro-batches");
}

TEST_F(PipelineParityTest, OddPpForDualPipeIsRejected) {
  expect_rejected(3, {"model.layers=6", "parallel.pp=3", "parallel.schedule=dualpipe",
                      "parallel.chunks=2"},
                  "schedule dualpipe needs an even pp, got 3");
}

}  // namespace
}  // namespace sadari::parity
