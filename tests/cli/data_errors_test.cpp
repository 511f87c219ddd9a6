// `sadari train` on missing, empty and corrupted token shards, and
// `sadari prepare-data` on bad inputs and outputs: one-line errors that name the
// file, exit code 1, and no output (run files, shard, shard.tmp) left behind.
#include <cstdint>

#include "cli_test_util.h"

namespace sadari::testing {
namespace {

const std::string kTiny = source_file("configs/tiny-moe.yaml");

// Some thousands of bytes of text: a few hundred windows of seq_len 32.
std::string sample_text() {
  std::string text;
  for (int i = 0; i < 120; ++i)
    text += "line " + std::to_string(i) + ": the quick brown fox jumps over the lazy dog.\n";
  return text;
}

class CliDataTest : public CliTest {
 protected:
  // Writes sample text and turns it into `name` with `sadari prepare-data`.
  std::string make_shard(const std::string& name) {
    write("corpus.txt", sample_text());
    const auto r = sadari({"prepare-data", "--output", path(name), path("corpus.txt")});
    EXPECT_TRUE(r.exited() && r.exit_code == 0) << r.describe();
    return path(name);
  }
  CliResult train_on(const std::string& shard, const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> sets{"--set", "data.source=shards", "--set", "data.train_path=" + shard};
    sets.insert(sets.end(), extra.begin(), extra.end());
    return train(kTiny, sets);
  }
  // Replaces byte `offset` of `file` with its bitwise complement.
  void flip_byte(const std::string& file, int64_t offset) const {
    std::string bytes = read(file);
    ASSERT_LT(offset, static_cast<int64_t>(bytes.size()));
    bytes[static_cast<size_t>(offset)] = static_cast<char>(~bytes[static_cast<size_t>(offset)]);
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
};

TEST_F(CliDataTest, ValidShardTrains) {
  // The baseline the corruption cases below start from.
  const std::string shard = make_shard("train.bin");
  const auto r = train_on(shard);
  ASSERT_TRUE(r.exited()) << r.describe();
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.out.find("final validation loss"), std::string::npos) << r.describe();
}

TEST_F(CliDataTest, MissingShard) {
  expect_error(train_on(path("absent.bin")), 1, {"data.train_path", "absent.bin", "no such file"});
  expect_no_run_output();
}

TEST_F(CliDataTest, MissingValidationShard) {
  const std::string shard = make_shard("train.bin");
  expect_error(train_on(shard, {"--set", "data.val_path=" + path("absent-val.bin")}), 1,
               {"data.val_path", "absent-val.bin", "no such file"});
  expect_no_run_output();
}

TEST_F(CliDataTest, ZeroByteShard) {
  write("empty.bin", "");
  expect_error(train_on(path("empty.bin")), 1, {"data.train_path", "empty.bin", "empty file"});
  expect_no_run_output();
}

TEST_F(CliDataTest, DirectoryAsShard) {
  std::filesystem::create_directories(path("shard-dir"));
  expect_error(train_on(path("shard-dir")), 1, {"shard-dir", "directory"});
  expect_no_run_output();
}

TEST_F(CliDataTest, ShardShorterThanOneWindow) {
  write("short.txt", "tiny");  // 4 bytes + <eod>: far below seq_len + 1
  ASSERT_EQ(sadari({"prepare-data", "--output", path("short.bin"), path("short.txt")}).exit_code, 0);
  expect_error(train_on(path("short.bin")), 1, {"short.bin", "5 tokens"});
  expect_no_run_output();
}

TEST_F(CliDataTest, CorruptedMagic) {
  const std::string shard = make_shard("train.bin");
  flip_byte(shard, 0);
  expect_error(train_on(shard), 1, {"train.bin", "bad magic"});
  expect_no_run_output();
}

TEST_F(CliDataTest, CorruptedTokenCount) {
  const std::string shard = make_shard("train.bin");
  flip_byte(shard, 16);  // low byte of the u64 count: the checksum must catch it
  expect_error(train_on(shard), 1, {"train.bin", "checksum mismatch"});
  expect_no_run_output();
}

TEST_F(CliDataTest, CorruptedChecksum) {
  const std::string shard = make_shard("train.bin");
  flip_byte(shard, 30);
  expect_error(train_on(shard), 1, {"train.bin", "checksum mismatch"});
  expect_no_run_output();
}

TEST_F(CliDataTest, TruncatedShard) {
  const std::string shard = make_shard("train.bin");
  std::filesystem::resize_file(shard, std::filesystem::file_size(shard) - 3);
  expect_error(train_on(shard), 1, {"train.bin", "truncated"});
  expect_no_run_output();
}

TEST_F(CliDataTest, PrepareDataEmptyText) {
  write("empty.txt", "");
  expect_error(sadari({"prepare-data", "--output", path("out.bin"), path("empty.txt")}), 1,
               {"empty.txt", "no bytes"});
  EXPECT_FALSE(std::filesystem::exists(path("out.bin")));
  EXPECT_FALSE(std::filesystem::exists(path("out.bin.tmp")));
}

TEST_F(CliDataTest, PrepareDataMissingInput) {
  expect_error(sadari({"prepare-data", "--output", path("out.bin"), path("absent.txt")}), 1,
               {"absent.txt", "no such file"});
  EXPECT_FALSE(std::filesystem::exists(path("out.bin")));
  EXPECT_FALSE(std::filesystem::exists(path("out.bin.tmp")));
}

TEST_F(CliDataTest, PrepareDataMissingInputKeepsPreviousOutput) {
  write("out.bin", "previous contents");
  expect_error(sadari({"prepare-data", "--output", path("out.bin"), path("absent.txt")}), 1, {"absent.txt"});
  EXPECT_EQ(read(path("out.bin")), "previous contents");
  EXPECT_FALSE(std::filesystem::exists(path("out.bin.tmp")));
}

TEST_F(CliDataTest, PrepareDataEmptyDirectory) {
  std::filesystem::create_directories(path("nothing"));
  expect_error(sadari({"prepare-data", "--output", path("out.bin"), path("nothing")}), 1,
               {"nothing", "no input files"});
  EXPECT_FALSE(std::filesystem::exists(path("out.bin")));
}

TEST_F(CliDataTest, PrepareDataOutputInMissingDirectory) {
  write("corpus.txt", sample_text());
  expect_error(sadari({"prepare-data", "--output", path("no-such-dir/out.bin"), path("corpus.txt")}), 1,
               {"no-such-dir/out.bin", "cannot create"});
  EXPECT_FALSE(std::filesystem::exists(path("no-such-dir")));
}

TEST_F(CliDataTest, PrepareDataUnwritableOutput) {
  // A regular file where a directory should be: unwritable even for root.
  write("corpus.txt", sample_text());
  expect_error(sadari({"prepare-data", "--output", path("corpus.txt/out.bin"), path("corpus.txt")}), 1,
               {"corpus.txt/out.bin", "cannot create"});
  EXPECT_EQ(read(path("corpus.txt")), sample_text());
}

TEST_F(CliDataTest, PrepareDataWithoutOutputIsUsageError) {
  write("corpus.txt", sample_text());
  expect_error(sadari({"prepare-data", path("corpus.txt")}), 2, {"--output"});
}

}  // namespace
}  // namespace sadari::testing
