// Kills a process while it saves checkpoints, at random points, many times; after
// each kill the root must still resolve `latest` to a complete checkpoint whose
// every piece verifies, never older than the one before the kill.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>

#include "checkpoint/checkpoint_dir.h"
#include "checkpoint/checkpoint_reader.h"
#include "checkpoint/checkpoint_writer.h"
#include "comm/self_communicator.h"
#include "tests/checkpoint/checkpoint_test_util.h"

namespace sadari {
namespace {

constexpr int64_t kElements = 1 << 19;  // 2 MiB per checkpoint

void save_one(const std::string& root, int64_t step, const std::vector<float>& data) {
  SelfCommunicator world;
  SaveOptions opts;
  opts.keep = 2;
  ckpt::Manifest h;
  h.set_step(step);
  save_checkpoint(world, root, h,
                  {{"param/w", {kElements}, DType::f32, 0, kElements / 2, data.data()},
                   {"param/w", {kElements}, DType::f32, kElements / 2, kElements,
                    data.data() + kElements / 2}},
                  opts);
}

// The child: saves steps first_step, first_step + 1, ... until killed.
[[noreturn]] void save_forever(const std::string& root, int64_t first_step) {
  try {
    const std::vector<float> data = testing::pattern(kElements, 1.0f);
    for (int64_t step = first_step;; ++step) save_one(root, step, data);
  } catch (...) {
    _exit(3);
  }
}

TEST(CheckpointKill, KilledSavesNeverDamageLatest) {
  const std::string root = testing::scratch_dir("root");
  // Kill points spread over about two saves' time, measured here (the machine
  // may be loaded), so kills land before, inside and after publication.
  const auto t0 = std::chrono::steady_clock::now();
  save_one(testing::scratch_dir("timing"), 0, testing::pattern(kElements, 1.0f));
  const auto save_us = std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::steady_clock::now() - t0).count();
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int64_t> delay_us(0, 2 * save_us + 2000);
  int64_t last_step = -1;
  int published_after_kill = 0;
  for (int round = 0; round < 12; ++round) {
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) save_forever(root, last_step + 1);
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng)));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the saving child exited on its own: status " << status;

    if (!posix_file_system().exists(root + "/latest")) {
      EXPECT_EQ(last_step, -1) << "latest vanished after a kill";
      continue;
    }
    const CheckpointReader r(root);
    EXPECT_TRUE(r.verify().empty()) << "round " << round;
    EXPECT_GE(r.manifest().step(), last_step) << "latest went back in time";
    if (r.manifest().step() > last_step) ++published_after_kill;
    last_step = r.manifest().step();
    std::vector<float> w(kElements);
    r.read("param/w", 0, kElements, w.data());
    EXPECT_EQ(w, testing::pattern(kElements, 1.0f));
  }
  // Some rounds published new checkpoints before the kill (the test exercised saves).
  EXPECT_GT(published_after_kill, 0);
}

}  // namespace
}  // namespace sadari
