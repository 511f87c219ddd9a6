// Checkpoint writer and reader in one process (SelfCommunicator): round trips of
// pieces, reads across piece boundaries, retention and `latest`, and the faults
// of issue 7 that one process can produce: a flipped byte, a truncated data
// file, a damaged manifest, gaps in the pieces, a full disk.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "checkpoint/checkpoint_dir.h"
#include "checkpoint/checkpoint_reader.h"
#include "checkpoint/checkpoint_writer.h"
#include "comm/self_communicator.h"
#include "tests/checkpoint/checkpoint_test_util.h"

namespace sadari {
namespace {

namespace fs = std::filesystem;
using testing::pattern;
using testing::scratch_dir;

ckpt::Manifest header_at(int64_t step) {
  ckpt::Manifest h;
  h.set_step(step);
  h.set_config_yaml("model:\n  name: test\n");
  (*h.mutable_counters())["samples_consumed"] = step * 16;
  return h;
}

// Tensor "a" (3 x 5) in two pieces, "b" (7) in one; values tagged by `tag`.
struct TwoTensors {
  explicit TwoTensors(float tag) : a(pattern(15, tag)), b(pattern(7, tag + 100)) {}
  std::vector<TensorPiece> pieces() const {
    return {{"param/a", {3, 5}, DType::f32, 6, 15, a.data() + 6},
            {"param/a", {3, 5}, DType::f32, 0, 6, a.data()},
            {"param/b", {7}, DType::f32, 0, 7, b.data()}};
  }
  std::vector<float> a, b;
};

std::vector<float> read_floats(const CheckpointReader& r, const std::string& name, int64_t begin,
                               int64_t end) {
  std::vector<float> out(static_cast<size_t>(end - begin));
  r.read(name, begin, end, out.data());
  return out;
}

TEST(CheckpointIo, RoundTripAcrossPieces) {
  const std::string root = scratch_dir("root");
  SelfCommunicator world;
  const TwoTensors data(1.0f);
  const std::string dir = save_checkpoint(world, root, header_at(10), data.pieces());
  EXPECT_EQ(dir, (fs::path(root) / "step-00000010").string());

  const CheckpointReader r(root);  // through `latest`
  EXPECT_EQ(r.dir(), dir);
  EXPECT_EQ(r.manifest().step(), 10);
  EXPECT_EQ(r.manifest().counters().at("samples_consumed"), 160);
  ASSERT_EQ(r.manifest().tensors_size(), 2);
  EXPECT_EQ(r.tensor("param/a").pieces_size(), 2);
  EXPECT_EQ(r.tensor("param/a").shape(1), 5);
  EXPECT_EQ(read_floats(r, "param/a", 0, 15), data.a);
  EXPECT_EQ(read_floats(r, "param/b", 0, 7), data.b);
  // A range that starts in one piece and ends in the next.
  EXPECT_EQ(read_floats(r, "param/a", 4, 9), std::vector<float>(data.a.begin() + 4, data.a.begin() + 9));
  EXPECT_TRUE(r.verify().empty());
  EXPECT_EQ(r.data_bytes(), (15 + 7) * sizeof(float));
  EXPECT_EQ(r.find("param/none"), nullptr);
  EXPECT_THROW(r.tensor("param/none"), Error);
}

TEST(CheckpointIo, LatestAndRetentionKeepTheNewest) {
  const std::string root = scratch_dir("root");
  SelfCommunicator world;
  SaveOptions keep2;
  keep2.keep = 2;
  for (int step = 1; step <= 4; ++step)
    save_checkpoint(world, root, header_at(step * 10), TwoTensors(static_cast<float>(step)).pieces(),
                    keep2);
  EXPECT_EQ(list_checkpoints(posix_file_system(), root), (std::vector<int64_t>{30, 40}));
  const CheckpointReader latest(root);
  EXPECT_EQ(latest.manifest().step(), 40);
  EXPECT_EQ(read_floats(latest, "param/b", 0, 7), TwoTensors(4.0f).b);
  // An older one by name.
  const CheckpointReader older((fs::path(root) / "step-00000030").string());
  EXPECT_EQ(read_floats(older, "param/b", 0, 7), TwoTensors(3.0f).b);
}

TEST(CheckpointIo, SavingTheSameStepAgainReplacesIt) {
  const std::string root = scratch_dir("root");
  SelfCommunicator world;
  save_checkpoint(world, root, header_at(10), TwoTensors(1.0f).pieces());
  save_checkpoint(world, root, header_at(10), TwoTensors(2.0f).pieces());
  const CheckpointReader r(root);
  EXPECT_EQ(read_floats(r, "param/a", 0, 15), TwoTensors(2.0f).a);
  EXPECT_EQ(list_checkpoints(posix_file_system(), root), (std::vector<int64_t>{10}));
}

void flip_byte(const std::string& path, uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x10));
}

TEST(CheckpointIo, FlippedByteIsDetectedAndNamed) {
  const std::string root = scratch_dir("root");
  SelfCommunicator world;
  const std::string dir = save_checkpoint(world, root, header_at(5), TwoTensors(1.0f).pieces());
  // Pieces are written in the order given: byte 2 of rank 0's file lies in
  // param/a's piece [6, 15).
  flip_byte((fs::path(dir) / "rank-00000.bin").string(), 2);
  const CheckpointReader r(dir);
  const auto problems = r.verify();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("checksum mismatch"), std::string::npos) << problems[0];
  EXPECT_NE(problems[0].find("rank-00000.bin"), std::string::npos) << problems[0];
  EXPECT_NE(problems[0].find("tensor param/a elements [6, 15)"), std::string::npos) << problems[0];
  std::vector<float> out(15);
  EXPECT_THROW(r.read("param/a", 0, 15, out.data()), Error);
  // The undamaged tensor still reads.
  EXPECT_EQ(read_floats(r, "param/b", 0, 7), TwoTensors(1.0f).b);
}

TEST(CheckpointIo, TruncatedDataFileIsDetectedAndNamed) {
  const std::string root = scratch_dir("root");
  SelfCommunicator world;
  const std::string dir = save_checkpoint(world, root, header_at(5), TwoTensors(1.0f).pieces());
  const std::string file = (fs::path(dir) / "rank-00000.bin").string();
  fs::resize_file(file, fs::file_size(file) - 4);
  const CheckpointReader r(dir);
  const auto problems = r.verify();
  ASSERT_GE(problems.size(), 2u);  // the file's size, and the piece that reaches past its end
  EXPECT_NE(problems[0].find("bytes, the manifest says"), std::string::npos) << problems[0];
  try {
    read_floats(r, "param/b", 0, 7);
    FAIL() << "a truncated piece was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("tensor param/b"), std::string::npos) << e.what();
  }
}

TEST(CheckpointIo, DamagedManifestIsRefused) {
  const std::string root = scratch_dir("root");
  SelfCommunicator world;
  const std::string dir = save_checkpoint(world, root, header_at(5), TwoTensors(1.0f).pieces());
  const std::string manifest = (fs::path(dir) / "manifest.pb").string();
  flip_byte(manifest, fs::file_size(manifest) - 3);
  try {
    CheckpointReader r(dir);
    FAIL() << "a damaged manifest was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("checksum"), std::string::npos) << e.what();
  }
  fs::resize_file(manifest, 30);
  EXPECT_THROW(CheckpointReader{dir}, Error);
}

TEST(CheckpointIo, GapInPiecesFailsTheSaveAndKeepsThePrevious) {
  const std::string root = scratch_dir("root");
  SelfCommunicator world;
  save_checkpoint(world, root, header_at(10), TwoTensors(1.0f).pieces());
  TwoTensors second(2.0f);
  std::vector<TensorPiece> pieces = second.pieces();
  pieces.erase(pieces.begin() + 1);  // param/a [0, 6) never written
  try {
    save_checkpoint(world, root, header_at(20), pieces);
    FAIL() << "a checkpoint with missing elements was published";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("param/a: elements [0, 6) are missing"), std::string::npos)
        << e.what();
  }
  const CheckpointReader r(root);
  EXPECT_EQ(r.manifest().step(), 10);
  EXPECT_EQ(read_floats(r, "param/a", 0, 15), TwoTensors(1.0f).a);
}

TEST(CheckpointIo, FullDiskFailsTheSaveAndKeepsThePrevious) {
  const std::string root = scratch_dir("root");
  SelfCommunicator world;
  save_checkpoint(world, root, header_at(10), TwoTensors(1.0f).pieces());
  testing::FullDiskFileSystem full(40);  // less than the 88 bytes of data
  SaveOptions opts;
  opts.fs = &full;
  try {
    save_checkpoint(world, root, header_at(20), TwoTensors(2.0f).pieces(), opts);
    FAIL() << "saving on a full disk succeeded";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("No space left on device"), std::string::npos) << msg;
    EXPECT_NE(msg.find("previous checkpoint"), std::string::npos) << msg;
  }
  const CheckpointReader r(root);
  EXPECT_EQ(r.manifest().step(), 10);
  EXPECT_TRUE(r.verify().empty());
  // The next successful save removes the partial directory the failed one left.
  save_checkpoint(world, root, header_at(30), TwoTensors(3.0f).pieces());
  for (const auto& e : fs::directory_iterator(root))
    EXPECT_EQ(e.path().string().find(".partial"), std::string::npos) << e.path();
}

TEST(CheckpointIo, BadPathsAreNamed) {
  const std::string root = scratch_dir("root");
  try {
    CheckpointReader r(root + "/nowhere");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no such checkpoint directory"), std::string::npos);
  }
  try {
    CheckpointReader r(root);  // exists, but holds nothing
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no 'latest' file"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sadari
