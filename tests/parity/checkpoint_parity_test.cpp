// Checkpoints in whole training runs (apps/training_checkpoint.h):
//   exact resume: a run that saves at step 15 and a second run resumed from that
//   checkpoint in the same layout produce bit-identical losses for steps 16-30;
//   resharding: resumed in another layout (dp2 ep2 -> dp4, pp2 -> pp1, pp1 ->
//   pp2 DualPipe, identity -> replicated expert placement) the losses continue
//   within 1e-5 relative of the run that never changed layout;
//   kills: a run saving every step is SIGKILLed at random points, resumed from
//   `latest` each time, and still ends with the uninterrupted run's losses;
//   refusal: a checkpoint of another model is refused naming the mismatch.
#include <random>

#include "tests/parity/parity_fixture.h"

namespace sadari::parity {
namespace {

class CheckpointParityTest : public ParityFixture {
 protected:
  fs::path dir(const std::string& name) const {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return root() / (std::string(info->name()) + "_" + name);
  }

  // Runs `sets` on np ranks (np 1: no mpirun) into run_dir; expects success.
  static RunMetrics run(int np, const fs::path& run_dir, const std::vector<std::string>& sets) {
    fs::remove_all(run_dir);
    const CliResult r = np == 1 ? run_cli(train_args(run_dir, sets), kTimeoutS)
                                : mpirun(np, run_dir, sets);
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    return read_metrics(run_dir);
  }

  // Trains 30 steps in `layout` saving at 15 and 30, then resumes from step 15
  // in `resumed_layout`; compares steps 16-30 (0 tolerance: bit-identical).
  void expect_resume(int np, const std::vector<std::string>& layout, int resumed_np,
                     const std::vector<std::string>& resumed_layout, double tolerance,
                     const std::string& label) {
    const fs::path ck = dir("ck");
    fs::remove_all(ck);
    std::vector<std::string> first = layout;
    first.insert(first.end(), {"checkpoint.every=15", "checkpoint.dir=" + ck.string()});
    const RunMetrics full = run(np, dir("full"), first);
    ASSERT_EQ(full.loss.size(), 30u);
    ASSERT_TRUE(fs::exists(ck / "step-00000015" / "manifest.pb"));

    std::vector<std::string> second = resumed_layout;
    second.push_back("checkpoint.resume=" + (ck / "step-00000015").string());
    const RunMetrics resumed = run(resumed_np, dir("resumed"), second);
    ASSERT_EQ(resumed.loss.size(), 15u);
    double worst = 0;
    for (size_t i = 0; i < 15; ++i) {
      const double want = full.loss[15 + i], got = resumed.loss[i];
      const double rel = std::fabs(got - want) / std::fabs(want);
      worst = std::max(worst, rel);
      EXPECT_LE(rel, tolerance) << label << ": loss at step " << 16 + i << ": " << got << " vs "
                                << want;
      EXPECT_LE(std::fabs(resumed.grad_norm[i] - full.grad_norm[15 + i]),
                tolerance * full.grad_norm[15 + i])
          << label << ": gradient norm at step " << 16 + i;
    }
    ASSERT_TRUE(resumed.val_loss.count(30));
    EXPECT_LE(std::fabs(resumed.val_loss.at(30) - full.val_loss.at(30)),
              tolerance * full.val_loss.at(30));
    std::printf("  %s: steps 16-30, largest relative loss difference %.2e\n", label.c_str(),
                worst);
  }
};

TEST_F(CheckpointParityTest, ExactResumeOneProcess) {
  expect_resume(1, {}, 1, {}, 0.0, "one process");
}

TEST_F(CheckpointParityTest, ExactResumePipeline2Data2) {
  expect_resume(4, {"parallel.pp=2", "parallel.dp=2"}, 4, {"parallel.pp=2", "parallel.dp=2"}, 0.0,
                "pp2 x dp2");
}

TEST_F(CheckpointParityTest, ExactResumeWithOnlineRebalancing) {
  // Rebalances at steps 5, 10, 20, 25: the resumed run must restore the
  // placements and load statistics of step 15 to continue bit for bit.
  const std::vector<std::string> layout = {"parallel.dp=2", "parallel.ep=2",
                                           "parallel.expert_slots=5",
                                           "parallel.rebalance_every=5",
                                           "parallel.rebalance_decay=0.5"};
  expect_resume(2, layout, 2, layout, 0.0, "dp2 ep2 replicas, rebalancing every 5 steps");
}

TEST_F(CheckpointParityTest, ReshardDp2Ep2ToDp4) {
  expect_resume(2, {"parallel.dp=2", "parallel.ep=2"}, 4,
                {"parallel.dp=4", "train.micro_batch=4", "train.eval_batches=8"}, kTolerance,
                "dp2 ep2 -> dp4");
}

TEST_F(CheckpointParityTest, ReshardPipelineToOneStageAndBackUnderDualPipe) {
  expect_resume(2, {"parallel.pp=2"}, 1, {}, kTolerance, "pp2 -> pp1");
  expect_resume(1, {}, 2,
                {"parallel.pp=2", "parallel.schedule=dualpipe", "parallel.chunks=2",
                 "train.micro_batch=4", "train.eval_batches=8"},
                kTolerance, "pp1 -> pp2 dualpipe");
}

TEST_F(CheckpointParityTest, ReshardToReplicatedExpertPlacement) {
  // Identity placement (4 experts per ep rank) -> 5 slots per rank, hot experts
  // replicated: every replica loads its logical expert's weights and moments.
  expect_resume(2, {"parallel.dp=2", "parallel.ep=2", "parallel.zero_stage=0"}, 2,
                {"parallel.dp=2", "parallel.ep=2", "parallel.zero_stage=0",
                 "parallel.expert_slots=5"},
                kTolerance, "dp2 ep2 identity -> 5 slots per rank with replicas");
}

TEST_F(CheckpointParityTest, KilledRunsResumeFromLatest) {
  const fs::path ck = dir("ck"), runs = dir("runs");
  fs::remove_all(ck);
  const std::vector<std::string> every = {"checkpoint.every=1", "checkpoint.keep=2",
                                          "checkpoint.dir=" + ck.string()};
  const RunMetrics full = run(1, dir("full"), {});
  // Time one uninterrupted saving run, then kill runs at random points in it.
  const auto t0 = std::chrono::steady_clock::now();
  run(1, dir("timing"), every);
  const double whole = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fs::remove_all(ck);
  std::mt19937 rng(2024);
  // Three kills within 30% of a whole run's time each: the runs cannot reach
  // the last step between them, so the final resume below has steps to run.
  std::uniform_real_distribution<double> when(0.05 * whole, 0.3 * whole);
  int kills = 0;
  // The step `latest` names (-1 without one).
  auto latest_step = [&ck]() -> int64_t {
    std::ifstream in(ck / "latest");
    std::string name;
    if (!(in >> name) || name.size() < 6) return -1;
    return std::stoll(name.substr(5));
  };
  for (int round = 0; round < 3; ++round) {
    // A slow timing run makes the kill windows long: a round may reach the end.
    if (latest_step() >= 30) break;
    std::vector<std::string> sets = every;
    if (fs::exists(ck / "latest")) sets.push_back("checkpoint.resume=latest");
    const CliResult r = run_cli(train_args(runs, sets), when(rng));
    if (r.exit_code == 0) break;  // finished before the kill
    ASSERT_TRUE(r.timed_out) << r.describe();
    ++kills;
  }
  EXPECT_GT(kills, 0);
  // Whatever the kills hit, latest verifies, and resuming from it finishes the run.
  if (fs::exists(ck / "latest")) {
    const CliResult verify = run_cli({SADARI_CLI_PATH, "ckpt", "verify", ck.string()}, kTimeoutS);
    EXPECT_EQ(verify.exit_code, 0) << verify.describe();
  }
  std::vector<std::string> finish = {"checkpoint.dir=" + ck.string()};
  if (latest_step() >= 30)  // finished before a kill: keep = 2 left step 29 too
    finish.push_back("checkpoint.resume=" + (ck / "step-00000029").string());
  else if (latest_step() >= 0)
    finish.push_back("checkpoint.resume=latest");
  const RunMetrics last = run(1, dir("last"), finish);
  ASSERT_FALSE(last.loss.empty());
  const size_t first = 30 - last.loss.size();
  for (size_t i = 0; i < last.loss.size(); ++i)
    EXPECT_EQ(last.loss[i], full.loss[first + i]) << "step " << first + i + 1;
  std::printf("  %d kills, finished from step %zu with identical losses\n", kills, first);
}

TEST_F(CheckpointParityTest, CheckpointOfAnotherModelIsRefused) {
  const fs::path ck = dir("ck");
  fs::remove_all(ck);
  run(1, dir("saved"), {"train.steps=2", "optim.warmup_steps=1", "checkpoint.every=2",
                        "checkpoint.dir=" + ck.string()});
  const fs::path refused = dir("refused");
  const CliResult r =
      run_cli(train_args(refused, {"model.hidden=32", "checkpoint.resume=" + ck.string()}),
              kTimeoutS);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("model.hidden is 32 in the config but 64 in the checkpoint"),
            std::string::npos)
      << r.describe();
}

}  // namespace
}  // namespace sadari::parity
