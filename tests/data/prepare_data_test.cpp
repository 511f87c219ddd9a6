#include "data/prepare_data.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "data/token_shard.h"
#include "data/tokenizer.h"
#include "data_test_util.h"

namespace sadari {
namespace {

using testing::error_message;
using testing::TempDir;
using testing::write_file;

std::string decode_shard(const std::string& path) {
  TokenShard shard = TokenShard::open(path, ByteTokenizer::kVocabSize);
  std::vector<int32_t> ids(static_cast<size_t>(shard.size()));
  shard.tokens().copy_to(0, shard.size(), ids.data());
  return ByteTokenizer().decode(ids);
}

TEST(PrepareData, DirectoryRecursiveSortedWithEodPerDocument) {
  TempDir dir;
  write_file(dir.file("corpus/b.txt"), "bee");
  write_file(dir.file("corpus/a.txt"), "ay");
  write_file(dir.file("corpus/sub/c.txt"), "sea\n");
  write_file(dir.file("corpus/.git/HEAD"), "hidden");
  write_file(dir.file("corpus/.notes"), "hidden too");
  const std::string out = dir.file("out.bin");

  PrepareDataStats stats = prepare_data({dir.file("corpus")}, out);
  EXPECT_EQ(stats.documents, 3);
  EXPECT_EQ(stats.bytes, 2 + 3 + 4);
  EXPECT_EQ(stats.tokens, 9 + 3);
  EXPECT_EQ(decode_shard(out), "ay<eod>bee<eod>sea\n<eod>");
  EXPECT_EQ(TokenShard::open(out, 258).dtype(), TokenDtype::kU16);
  EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));

  PrepareDataOptions with_hidden;
  with_hidden.include_hidden = true;
  EXPECT_EQ(prepare_data({dir.file("corpus")}, out, with_hidden).documents, 5);
}

TEST(PrepareData, FilesInGivenOrderAndEmptyDocuments) {
  TempDir dir;
  write_file(dir.file("z.txt"), "last-named-first");
  write_file(dir.file("empty.txt"), "");
  write_file(dir.file("a.txt"), std::string("\xff\0x", 3));
  const std::string out = dir.file("out.bin");
  PrepareDataStats stats = prepare_data({dir.file("z.txt"), dir.file("empty.txt"), dir.file("a.txt")}, out);
  EXPECT_EQ(stats.documents, 3);
  EXPECT_EQ(stats.tokens, stats.bytes + 3);
  EXPECT_EQ(decode_shard(out), std::string("last-named-first<eod><eod>\xff\0x<eod>", 34));
}

TEST(PrepareData, SameTreeSameShard) {
  TempDir dir;
  for (int i = 0; i < 20; ++i) write_file(dir.file("c/f" + std::to_string(i)), std::string(i + 1, 'a' + i));
  prepare_data({dir.file("c")}, dir.file("one.bin"));
  prepare_data({dir.file("c")}, dir.file("two.bin"));
  EXPECT_EQ(testing::read_file(dir.file("one.bin")), testing::read_file(dir.file("two.bin")));
}

TEST(PrepareData, OutputInsideInputDirectoryIsNotReadBack) {
  TempDir dir;
  write_file(dir.file("doc.txt"), "hello");
  prepare_data({dir.path()}, dir.file("shard.bin"));
  PrepareDataStats again = prepare_data({dir.path()}, dir.file("shard.bin"));
  EXPECT_EQ(again.documents, 1);
  EXPECT_EQ(decode_shard(dir.file("shard.bin")), "hello<eod>");
}

TEST(PrepareDataErrors, MissingInput) {
  TempDir dir;
  const std::string missing = dir.file("nothing-here");
  std::string message = error_message([&] { prepare_data({missing}, dir.file("out.bin")); });
  EXPECT_NE(message.find(missing), std::string::npos) << message;
  EXPECT_FALSE(std::filesystem::exists(dir.file("out.bin")));
}

TEST(PrepareDataErrors, NoInputFiles) {
  TempDir dir;
  std::filesystem::create_directories(dir.file("empty-dir/sub"));
  std::string message = error_message([&] { prepare_data({dir.file("empty-dir")}, dir.file("out.bin")); });
  EXPECT_NE(message.find("no input files"), std::string::npos) << message;
  EXPECT_NE(message.find("empty-dir"), std::string::npos) << message;
  error_message([&] { prepare_data({}, dir.file("out.bin")); });
}

TEST(PrepareDataErrors, EmptyResultLeavesNoFile) {
  TempDir dir;
  write_file(dir.file("in/a.txt"), "");
  write_file(dir.file("in/b.txt"), "");
  const std::string out = dir.file("out.bin");
  std::string message = error_message([&] { prepare_data({dir.file("in")}, out); });
  EXPECT_NE(message.find("empty result"), std::string::npos) << message;
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_FALSE(std::filesystem::exists(out + ".tmp"));
}

TEST(PrepareDataErrors, UnwritableOutput) {
  TempDir dir;
  write_file(dir.file("a.txt"), "text");
  const std::string out = dir.file("missing-dir/out.bin");
  std::string message = error_message([&] { prepare_data({dir.file("a.txt")}, out); });
  EXPECT_NE(message.find(out), std::string::npos) << message;
}

}  // namespace
}  // namespace sadari
