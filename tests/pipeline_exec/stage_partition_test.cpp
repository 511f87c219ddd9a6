// Stage partitioning (parallel/stage_partition.h): the balanced split is the
// best contiguous split (checked against trying every split), MoE blocks weigh
// more than dense ones, explicit stage_layers override it, and bad splits are
// rejected by the config loader with the key's file:line.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

#include "core/config_load.h"
#include "core/error.h"
#include "parallel/stage_partition.h"
#include "tests/config/config_test_util.h"

namespace sadari {
namespace {

ModelConfig moe_model(int64_t layers, int64_t first_dense) {
  ModelConfig m;
  m.layers = layers;
  m.first_dense_layers = first_dense;
  return m;
}

// The smallest largest-stage cost over every contiguous split, by enumeration.
double brute_force_best(const ModelConfig& m, int64_t stages, int64_t seq) {
  double best = 1e300;
  std::vector<int64_t> counts;
  std::function<void(int64_t)> go = [&](int64_t left) {
    if (static_cast<int64_t>(counts.size()) == stages - 1) {
      if (left < 1) return;
      counts.push_back(left);
      const auto split = stages_from_counts(counts, m.layers);
      double worst = 0;
      for (const auto& s : split) worst = std::max(worst, stage_cost(m, s, seq));
      best = std::min(best, worst);
      counts.pop_back();
      return;
    }
    for (int64_t c = 1; c <= left - 1; ++c) {
      counts.push_back(c);
      go(left - c);
      counts.pop_back();
    }
  };
  go(m.layers);
  return best;
}

void expect_covers_every_layer_once(const std::vector<StageLayers>& split, int64_t layers) {
  ASSERT_FALSE(split.empty());
  int64_t next = 0;
  for (const auto& s : split) {
    EXPECT_EQ(s.first, next);
    EXPECT_GE(s.count, 1);
    next = s.end();
  }
  EXPECT_EQ(next, layers);
  EXPECT_TRUE(split.front().has_embedding);
  EXPECT_TRUE(split.back().has_head);
  for (size_t i = 1; i < split.size(); ++i) EXPECT_FALSE(split[i].has_embedding);
  for (size_t i = 0; i + 1 < split.size(); ++i) EXPECT_FALSE(split[i].has_head);
}

TEST(StagePartition, MoeBlockCostsMoreThanDenseBlock) {
  ModelConfig m = moe_model(4, 1);
  m.dense_ffn_hidden = 64;  // as wide as one expert: the MoE block runs top_k + shared of them
  EXPECT_GT(block_cost(m, 1, 64), block_cost(m, 0, 64));
}

TEST(StagePartition, BalancedSplitIsTheBestContiguousSplit) {
  for (int64_t layers : {2, 5, 8, 9}) {
    for (int64_t first_dense : {int64_t{0}, int64_t{1}, layers / 2}) {
      ModelConfig m = moe_model(layers, first_dense);
      for (int64_t stages = 1; stages <= std::min<int64_t>(layers, 6); ++stages) {
        const auto split = balanced_stages(m, stages, 64);
        ASSERT_EQ(static_cast<int64_t>(split.size()), stages);
        expect_covers_every_layer_once(split, layers);
        double worst = 0;
        for (const auto& s : split) worst = std::max(worst, stage_cost(m, s, 64));
        EXPECT_DOUBLE_EQ(worst, brute_force_best(m, stages, 64))
            << layers << " layers, " << first_dense << " dense, " << stages << " stages";
      }
    }
  }
}

TEST(StagePartition, HeavyHeadGivesTheLastStageFewerLayers) {
  ModelConfig m = moe_model(8, 0);
  m.vocab_size = 4096;  // the head costs about three blocks
  const auto split = balanced_stages(m, 2, 64);
  EXPECT_LT(split.back().count, split.front().count);
}

TEST(StagePartition, MoreStagesThanLayersIsRejected) {
  const ModelConfig m = moe_model(3, 1);
  testing::expect_config_error([&] { balanced_stages(m, 4, 64); },
                               {"4 pipeline stages for 3 layers"});
}

TEST(StagePartition, ExplicitStageLayersOverrideTheBalancedSplit) {
  const Config c = testing::load_text(
      "model:\n  layers: 8\nparallel:\n  pp: 2\n  stage_layers: \"1, 7\"\n");
  const auto split = partition_stages(c);
  ASSERT_EQ(split.size(), 2u);
  EXPECT_EQ(split[0].count, 1);
  EXPECT_EQ(split[1].first, 1);
  EXPECT_EQ(split[1].count, 7);
}

TEST(StagePartition, InterleavedChunksMakePpTimesChunksStages) {
  const Config c = testing::load_text(
      "model:\n  layers: 8\nparallel:\n  pp: 2\n  schedule: interleaved\n  chunks: 2\n");
  const auto split = partition_stages(c);
  EXPECT_EQ(split.size(), 4u);
  expect_covers_every_layer_once(split, 8);
}

TEST(StagePartition, BadStageLayersAreRejectedWithFileAndLine) {
  const std::string base = "model:\n  layers: 8\nparallel:\n  pp: 2\n  stage_layers: ";
  testing::expect_config_error([&] { testing::load_text(base + "\"3,4\"\n"); },
                               {"t.yaml:5 parallel.stage_layers", "covers 7 layers", "dropped"});
  testing::expect_config_error([&] { testing::load_text(base + "\"4,5\"\n"); },
                               {"t.yaml:5 parallel.stage_layers", "covers 9 layers", "duplicated"});
  testing::expect_config_error([&] { testing::load_text(base + "\"8,0\"\n"); },
                               {"t.yaml:5 parallel.stage_layers", "stage 1 gets no layer"});
  testing::expect_config_error([&] { testing::load_text(base + "\"2,2,4\"\n"); },
                               {"parallel.stage_layers", "lists 3 stages", "has 2"});
  testing::expect_config_error([&] { testing::load_text(base + "\"4,x\"\n"); },
                               {"t.yaml:5 parallel.stage_layers", "not a whole number"});
}

TEST(StagePartition, MoreStagesThanLayersInTheConfigIsRejected) {
  testing::expect_config_error(
      [] { testing::load_text("model:\n  layers: 3\nparallel:\n  pp: 2\n  schedule: interleaved\n  chunks: 2\n"); },
      {"parallel.chunks", "pp x chunks (2 x 2 = 4 stages) exceeds layers (3)"});
  testing::expect_config_error([] { testing::load_text("model:\n  layers: 3\nparallel:\n  pp: 4\n"); },
                               {"t.yaml:4 parallel.pp", "pp (4) exceeds layers (3)"});
}

TEST(StagePartition, ScheduleAndChunksMustAgree) {
  testing::expect_config_error(
      [] { testing::load_text("model:\n  layers: 8\nparallel:\n  pp: 2\n  schedule: dualpipev\n"); },
      {"parallel.chunks", "dualpipev needs chunks = 2"});
  testing::expect_config_error(
      [] { testing::load_text("model:\n  layers: 8\nparallel:\n  pp: 2\n  chunks: 2\n"); },
      {"parallel.chunks", "one chunk per rank"});
  testing::expect_config_error(
      [] {
        testing::load_text(
            "model:\n  layers: 8\nparallel:\n  pp: 3\n  schedule: dualpipe\n  chunks: 2\n");
      },
      {"parallel.pp", "dualpipe needs an even pp"});
}

}  // namespace
}  // namespace sadari
