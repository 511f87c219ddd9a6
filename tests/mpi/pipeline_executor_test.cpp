// The pipeline executor (parallel/pipeline_executor.h) over P = world size
// ranks, for every schedule it runs: one step gives exactly the one-process
// Transformer's loss and every parameter gradient (bit for bit: each chunk runs
// its micro-batches' backwards in increasing order, as the one-process loop
// does), and the peak number of live activations measured on each rank equals
// the simulator's prediction (parallel/pipeline_simulator.h). DualPipe holds
// each stage twice; after summing the copies' gradients (parallel/stage_copies.h)
// they equal the one-process ones up to the order of the sums.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "comm/process_groups.h"
#include "core/rng.h"
#include "model/transformer.h"
#include "model/transformer_stage.h"
#include "parallel/pipeline_executor.h"
#include "parallel/pipeline_generators.h"
#include "parallel/pipeline_simulator.h"
#include "parallel/stage_copies.h"
#include "parallel/stage_partition.h"
#include "tests/mpi/mpi_test_env.h"
#include "tests/pipeline_exec/pipeline_test_model.h"

namespace sadari {
namespace {

constexpr int64_t kMicro = 2, kSeq = 8;

ModelConfig pipeline_model(int64_t layers) {
  return test::pipeline_test_model(layers, ModelConfig{}.shared_experts);
}

void fill_microbatch(int microbatch, int32_t* ids, int32_t* targets) {
  for (int64_t i = 0; i < kMicro * kSeq; ++i) {
    const uint64_t at = static_cast<uint64_t>(microbatch * 1000 + i);
    ids[i] = static_cast<int32_t>(uniform_int(5, stream_key("pipe_ids"), at, 40));
    targets[i] = static_cast<int32_t>(uniform_int(5, stream_key("pipe_targets"), at, 40));
  }
}

void check_schedule(ScheduleKind kind) {
  Communicator& world = test::world();
  const int P = world.size();
  ScheduleRequest request;
  request.kind = kind;
  request.ranks = P;
  request.microbatches = 2 * P;
  const PipelineSchedule schedule = generate_schedule(request, "test");
  const ModelConfig cfg = pipeline_model(2 * P);
  const uint64_t seed = 3;
  const float ce_scale = 1.0f / static_cast<float>(schedule.microbatches() * kMicro * kSeq);
  const float aux_scale = 1.0f / static_cast<float>(schedule.microbatches());

  // One process: the whole model, micro-batches in order.
  Transformer<float> whole(cfg, seed);
  whole.params().zero_grad();
  double want_ce = 0;
  {
    std::vector<int32_t> ids(kMicro * kSeq), targets(kMicro * kSeq);
    typename Transformer<float>::Cache cache;
    for (int m = 0; m < schedule.microbatches(); ++m) {
      fill_microbatch(m, ids.data(), targets.data());
      want_ce += whole.forward(ids.data(), targets.data(), kMicro, kSeq, cache).ce_sum;
      whole.backward(cache, ce_scale, aux_scale);
    }
  }

  // The pipeline: this rank's chunks.
  ProcessGroups groups = make_process_groups(world, ParallelLayout{P, 1, 1});
  const std::vector<StageLayers> spans = balanced_stages(cfg, schedule.num_stages(), kSeq);
  ParameterStore store(DType::f32);
  std::vector<std::unique_ptr<TransformerStage<float>>> stages;
  std::vector<TransformerStage<float>*> chunks;
  for (int c = 0; c < schedule.chunks_per_rank(); ++c) {
    stages.push_back(std::make_unique<TransformerStage<float>>(
        cfg, spans[static_cast<size_t>(schedule.stage_of(groups.pp->rank(), c))], store, seed));
    chunks.push_back(stages.back().get());
  }
  PipelineExecutor executor(schedule, groups.pp->rank(), chunks, *groups.pp, kMicro, kSeq,
                            cfg.hidden);
  store.zero_grad();
  const PipelineStepStats stats = executor.run_step(fill_microbatch, ce_scale, aux_scale);
  double got_ce = stats.ce_sum;
  groups.pp->all_reduce(&got_ce, 1, ReduceOp::sum);
  EXPECT_GT(want_ce, 0);

  if (kind == ScheduleKind::dualpipe) {
    // Each copy of a stage saw half of the micro-batches: summed, the gradient
    // is the one-process one up to the order of the sums.
    auto copies = make_stage_copy_group(*groups.pp);
    sum_gradients_over_copies(store, *copies);
    EXPECT_NEAR(got_ce, want_ce, 1e-12 * want_ce);
    for (const auto& p : store.all()) {
      const Parameter* ref = whole.params().find(p->name);
      ASSERT_NE(ref, nullptr) << p->name;
      for (int64_t i = 0; i < p->numel(); ++i)
        ASSERT_NEAR(p->g<float>()[i], ref->g<float>()[i], 1e-6f + 1e-4f * std::fabs(ref->g<float>()[i]))
            << "dualpipe: gradient of " << p->name << "[" << i << "] on pp rank "
            << groups.pp->rank();
    }
  } else {
    EXPECT_EQ(got_ce, want_ce) << to_string(kind);
    for (const auto& p : store.all()) {
      const Parameter* ref = whole.params().find(p->name);
      ASSERT_NE(ref, nullptr) << p->name;
      EXPECT_EQ(std::memcmp(p->g<float>(), ref->g<float>(), static_cast<size_t>(p->numel()) * 4), 0)
          << to_string(kind) << ": gradient of " << p->name << " on pp rank "
          << groups.pp->rank();
    }
  }
  EXPECT_GE(executor.peak_live_activations(), 1);
  EXPECT_EQ(executor.peak_live_activations(), peak_activations(schedule, groups.pp->rank()))
      << to_string(kind) << " on pp rank " << groups.pp->rank();
}

TEST(PipelineExecutor, GPipeMatchesOneProcess) { check_schedule(ScheduleKind::gpipe); }
TEST(PipelineExecutor, OneFOneBMatchesOneProcess) { check_schedule(ScheduleKind::one_f_one_b); }
TEST(PipelineExecutor, InterleavedMatchesOneProcess) {
  check_schedule(ScheduleKind::interleaved_1f1b);
}
TEST(PipelineExecutor, ZeroBubbleH1MatchesOneProcess) { check_schedule(ScheduleKind::zb_h1); }
TEST(PipelineExecutor, DualPipeVMatchesOneProcess) { check_schedule(ScheduleKind::dualpipe_v); }
TEST(PipelineExecutor, DualPipeMatchesOneProcess) {
  if (test::world().size() % 2 != 0) GTEST_SKIP() << "DualPipe needs an even pp";
  check_schedule(ScheduleKind::dualpipe);
}

}  // namespace
}  // namespace sadari
