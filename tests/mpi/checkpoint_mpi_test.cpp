// Checkpoints written by several ranks at once (checkpoint/checkpoint_writer.h):
// every rank's pieces land in one manifest, any rank reads any range, and a
// failure on one rank (its disk fills up) fails the save on every rank with the
// same message while the previous checkpoint stays published.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "checkpoint/checkpoint_reader.h"
#include "checkpoint/checkpoint_writer.h"
#include "comm/string_collectives.h"
#include "tests/checkpoint/checkpoint_test_util.h"
#include "tests/mpi/mpi_test_env.h"

namespace sadari {
namespace {

using test::world;

// One scratch root for the whole job, named by rank 0.
std::string shared_root(const std::string& name) {
  return broadcast_string(world(), world().rank() == 0 ? testing::scratch_dir(name) : std::string(), 0);
}

// Tensor "w" of 10 * P elements: rank r writes [10 r, 10 r + 10); tensor "bias"
// (replicated) is written by rank 0 only.
struct RankData {
  explicit RankData(float tag)
      : w(testing::pattern(10 * world().size(), tag)), bias(testing::pattern(3, tag + 50)) {}
  std::vector<TensorPiece> pieces() const {
    const int r = world().rank(), P = world().size();
    std::vector<TensorPiece> out = {{"param/w", {P, 10}, DType::f32, 10 * r, 10 * r + 10,
                                     w.data() + 10 * r}};
    if (r == 0) out.push_back({"param/bias", {3}, DType::f32, 0, 3, bias.data()});
    return out;
  }
  std::vector<float> w, bias;
};

TEST(CheckpointMpi, EveryRankWritesItsPiecesAndReadsAnyRange) {
  const std::string root = shared_root("root");
  const RankData data(1.0f);
  ckpt::Manifest h;
  h.set_step(3);
  save_checkpoint(world(), root, h, data.pieces());
  const CheckpointReader r(root);
  EXPECT_EQ(r.manifest().files_size(), world().size());
  EXPECT_EQ(r.tensor("param/w").pieces_size(), world().size());
  // Each rank reads another rank's piece plus a range across two pieces.
  const int other = (world().rank() + 1) % world().size();
  std::vector<float> got(15);
  r.read("param/w", 10 * other, 10 * other + 10, got.data());
  EXPECT_EQ(std::vector<float>(got.begin(), got.begin() + 10),
            std::vector<float>(data.w.begin() + 10 * other, data.w.begin() + 10 * other + 10));
  r.read("param/w", 5, 20, got.data());
  EXPECT_EQ(got, std::vector<float>(data.w.begin() + 5, data.w.begin() + 20));
  EXPECT_TRUE(r.verify().empty());
  world().barrier();
}

TEST(CheckpointMpi, OneRanksFullDiskFailsTheSaveEverywhere) {
  const std::string root = shared_root("root");
  save_checkpoint(world(), root, [] { ckpt::Manifest h; h.set_step(1); return h; }(),
                  RankData(1.0f).pieces());
  const int victim = world().size() - 1;
  testing::FullDiskFileSystem full(8);  // the victim's 40 bytes do not fit
  SaveOptions opts;
  if (world().rank() == victim) opts.fs = &full;
  ckpt::Manifest h;
  h.set_step(2);
  std::string message;
  try {
    save_checkpoint(world(), root, h, RankData(2.0f).pieces(), opts);
  } catch (const Error& e) {
    message = e.what();
  }
  EXPECT_NE(message.find(detail::cat("rank ", victim, " of ")), std::string::npos) << message;
  EXPECT_NE(message.find("No space left on device"), std::string::npos) << message;
  world().barrier();
  const CheckpointReader r(root);
  EXPECT_EQ(r.manifest().step(), 1);
  std::vector<float> w(10 * world().size());
  r.read("param/w", 0, static_cast<int64_t>(w.size()), w.data());
  EXPECT_EQ(w, RankData(1.0f).w);
  world().barrier();
}

}  // namespace
}  // namespace sadari
