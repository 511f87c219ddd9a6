// End-to-end training in one process: the shipped tiny-moe config learns the
// synthetic corpus to near its entropy floor; runs are bit-reproducible and
// depend on the seed; gradient accumulation over micro-batches matches one big
// micro-batch; the run directory holds the resolved config and one metrics line
// per step; fp8 training ends within 0.5% of bf16.
#include "apps/trainer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/config_load.h"

namespace sadari {
namespace {

namespace fs = std::filesystem;

const std::string kTinyConfig = std::string(SADARI_SOURCE_DIR) + "/configs/tiny-moe.yaml";

// A fresh run directory per test, removed afterwards.
class TrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           (std::string("sadari_train_") + info->name() + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // tiny-moe with the given overrides, quiet, writing into this test's directory.
  Config config(std::vector<std::string> overrides, const std::string& run = "run") const {
    overrides.push_back("logging.progress=none");
    overrides.push_back("logging.run_dir=" + (dir_ / run).string());
    return load_config(kTinyConfig, overrides);
  }
  // A short run: enough steps for the weights (and so the losses) to move.
  Config short_run(std::vector<std::string> overrides, const std::string& run = "run") const {
    overrides.insert(overrides.begin(), {"train.steps=6", "optim.warmup_steps=2", "train.eval_every=0",
                                         "train.eval_batches=1", "data.synthetic.tokens=65536"});
    return config(overrides, run);
  }

  fs::path dir_;
};

// The acceptance criterion of the foundation: the default config, in its default
// step count, ends within 10% of the corpus's entropy floor (nats/token).
TEST_F(TrainTest, TinyMoeLearnsTheSyntheticCorpusToNearItsFloor) {
  const Config cfg = config({});
  const TrainResult r = train(cfg);
  ASSERT_TRUE(r.entropy_floor.has_value());
  ASSERT_EQ(static_cast<int64_t>(r.losses.size()), cfg.train.steps);
  std::printf("  final validation loss %.4f, floor %.4f (+%.1f%%), %.0f tokens/s\n",
              r.final_val_loss, *r.entropy_floor,
              100.0 * (r.final_val_loss / *r.entropy_floor - 1.0), r.tokens_per_s);
  EXPECT_LE(r.final_val_loss, 1.10 * *r.entropy_floor);
  EXPECT_GE(r.final_val_loss, 0.99 * *r.entropy_floor);  // below the floor would be a leak
  EXPECT_LT(r.losses.back(), r.losses.front());
}

TEST_F(TrainTest, SameSeedGivesBitIdenticalLossesAndAnotherSeedDoesNot) {
  const TrainResult a = train(short_run({}, "a"));
  const TrainResult b = train(short_run({}, "b"));
  const TrainResult c = train(short_run({"train.seed=99"}, "c"));
  ASSERT_EQ(a.losses.size(), 6u);
  for (size_t i = 0; i < a.losses.size(); ++i)
    EXPECT_EQ(a.losses[i], b.losses[i]) << "step " << i + 1;  // exact, not near
  EXPECT_EQ(a.final_val_loss, b.final_val_loss);
  EXPECT_NE(a.losses, c.losses);
}

// Determinism does not depend on how many threads the kernels use.
TEST_F(TrainTest, LossesDoNotDependOnTheThreadCount) {
  const TrainResult one = train(short_run({"train.threads=1"}, "t1"));
  const TrainResult two = train(short_run({"train.threads=2"}, "t2"));
  EXPECT_EQ(one.losses, two.losses);
}

// Accumulating gradients over 4 micro-batches of 4 is the same update as one
// micro-batch of 16, up to float rounding.
TEST_F(TrainTest, GradientAccumulationMatchesOneLargeMicroBatch) {
  const TrainResult acc = train(short_run({"train.micro_batch=4"}, "acc"));
  const TrainResult one = train(short_run({"train.micro_batch=16"}, "one"));
  ASSERT_EQ(acc.losses.size(), one.losses.size());
  for (size_t i = 0; i < acc.losses.size(); ++i)
    EXPECT_NEAR(acc.losses[i], one.losses[i], 1e-4 * one.losses[i]) << "step " << i + 1;
  // The losses did move, so the comparison covers the updates, not just the init.
  EXPECT_GT(std::abs(one.losses.front() - one.losses.back()), 1e-3);
}

// DeepSeek-V3's FP8 recipe against BF16 mixed precision (both emulated on the
// host, model/compute_precision.h): the shipped tiny-moe config in its default
// step count, one seed and one data order; fp8's final validation loss no more
// than 0.5% above bf16's (DeepSeek reports 0.25% at scale). Lower is not an
// error: one run's routing noise moves either way by about as much as the
// arithmetic (bf16 and f32 alone end 0.6% apart at 200 steps; with OpenBLAS's
// Prescott kernels fp8 ended 0.26% above bf16, with its SkylakeX ones 0.55%
// below), so the lower side is only bounded loosely (2%), against a broken
// recipe that would land far off either way. Curves: docs/performance.md.
TEST_F(TrainTest, Fp8EndsNoMoreThanHalfAPercentAboveBf16) {
  const TrainResult fp8 = train(config({"train.precision=fp8", "train.eval_every=0"}, "fp8"));
  const TrainResult bf16 = train(config({"train.precision=bf16", "train.eval_every=0"}, "bf16"));
  const double rel = fp8.final_val_loss / bf16.final_val_loss - 1.0;
  std::printf("  final validation loss fp8 %.4f, bf16 %.4f: fp8 %+.2f%%\n", fp8.final_val_loss,
              bf16.final_val_loss, 100.0 * rel);
  EXPECT_LE(rel, 0.005);
  EXPECT_GE(rel, -0.02);
  EXPECT_NE(fp8.losses, bf16.losses);  // both ran, in different arithmetic
  ASSERT_TRUE(fp8.entropy_floor.has_value());
  EXPECT_LE(fp8.final_val_loss, 1.10 * *fp8.entropy_floor);  // and learned
}

TEST_F(TrainTest, RunDirectoryHoldsResolvedConfigAndOneMetricsLinePerStep) {
  const Config cfg = short_run({});
  train(cfg);
  const fs::path run = dir_ / "run";
  ASSERT_TRUE(fs::exists(run / "config.yaml"));
  EXPECT_FALSE(fs::exists(run / "config.yaml.tmp"));
  // The written config loads back to the same settings.
  const Config back = load_config((run / "config.yaml").string());
  EXPECT_TRUE(back.model == cfg.model);
  EXPECT_TRUE(back.train == cfg.train);
  std::ifstream metrics(run / "metrics.jsonl");
  int step_lines = 0, val_lines = 0;
  for (std::string line; std::getline(metrics, line);) {
    ASSERT_FALSE(line.empty());
    EXPECT_EQ(line.front(), '{');
    EXPECT_EQ(line.back(), '}');
    step_lines += line.find("\"loss\":") != std::string::npos;
    val_lines += line.find("\"val_loss\":") != std::string::npos;
  }
  EXPECT_EQ(step_lines, 6);
  EXPECT_EQ(val_lines, 1);  // eval_every = 0: validation once, at the end
}

// The "dropped_pairs" values of a run's metrics.jsonl step lines, in order.
std::vector<long long> dropped_pairs_per_step(const fs::path& metrics_path) {
  std::ifstream metrics(metrics_path);
  std::vector<long long> dropped;
  const std::string key = "\"dropped_pairs\":";
  for (std::string line; std::getline(metrics, line);) {
    const size_t at = line.find(key);
    if (at != std::string::npos) dropped.push_back(std::stoll(line.substr(at + key.size())));
  }
  return dropped;
}

// A capacity limit in one process: tiny-moe's 8 experts, top-2, factor 0.5 keep
// at most ceil(0.5 * n * 2 / 8) pairs per expert, so at least half of the n * 2
// pairs of each of the 3 MoE layers are dropped; the run must say so, and a
// dropless run must report none.
TEST_F(TrainTest, CapacityLimitReportsDroppedPairsAndDroplessReportsNone) {
  train(short_run({"parallel.capacity_factor=0.5"}, "capped"));
  train(short_run({}, "dropless"));
  const std::vector<long long> capped = dropped_pairs_per_step(dir_ / "capped" / "metrics.jsonl");
  const std::vector<long long> dropless =
      dropped_pairs_per_step(dir_ / "dropless" / "metrics.jsonl");
  ASSERT_EQ(capped.size(), 6u);
  ASSERT_EQ(dropless.size(), 6u);
  // 16 sequences x 64 tokens x 2 slots x 3 MoE layers pairs per step.
  const long long pairs = 16LL * 64 * 2 * 3;
  for (size_t i = 0; i < capped.size(); ++i) {
    EXPECT_GE(capped[i], pairs / 2) << "step " << i + 1;
    EXPECT_LT(capped[i], pairs) << "step " << i + 1;
    EXPECT_EQ(dropless[i], 0) << "step " << i + 1;
  }
}

// Node-limited routing in one process (one node): every expert is on the same
// node, so the limit changes nothing: the losses equal the plain run's.
TEST_F(TrainTest, NodeLimitedRoutingOnOneNodeChangesNothing) {
  const TrainResult limited = train(
      short_run({"parallel.max_nodes_per_token=1", "parallel.ranks_per_node=1"}, "limited"));
  const TrainResult plain = train(short_run({}, "plain"));
  EXPECT_EQ(limited.losses, plain.losses);
}

}  // namespace
}  // namespace sadari
