#include "data/token_shard.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <vector>

#include "core/rng.h"
#include "data_test_util.h"

namespace sadari {
namespace {

using testing::error_message;
using testing::TempDir;

std::vector<int32_t> read_all(const TokenShard& shard) {
  std::vector<int32_t> out(static_cast<size_t>(shard.size()));
  shard.tokens().copy_to(0, shard.size(), out.data());
  return out;
}

// A shard built byte by byte, to produce the broken files a writer never makes.
std::string craft_shard(uint32_t version, uint32_t code, uint64_t count, const std::string& payload,
                        bool good_checksum = true) {
  std::string bytes(32, '\0');
  std::memcpy(bytes.data(), "SDRTOKS\0", 8);
  std::memcpy(bytes.data() + 8, &version, 4);
  std::memcpy(bytes.data() + 12, &code, 4);
  std::memcpy(bytes.data() + 16, &count, 8);
  uint64_t checksum = stream_key(std::string_view(bytes.data(), 24)) ^ (good_checksum ? 0 : 1);
  std::memcpy(bytes.data() + 24, &checksum, 8);
  return bytes + payload;
}

template <typename T>
std::string payload_of(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(TokenShard, RoundTripU16) {
  TempDir dir;
  const std::string path = dir.file("a.bin");
  std::vector<int32_t> tokens = {0, 1, 256, 257, 65535, 42};
  write_token_shard(path, tokens, TokenDtype::kU16);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_EQ(std::filesystem::file_size(path), 32u + 2u * tokens.size());
  TokenShard shard = TokenShard::open(path, 65536);
  EXPECT_EQ(shard.dtype(), TokenDtype::kU16);
  EXPECT_EQ(shard.size(), 6);
  EXPECT_EQ(read_all(shard), tokens);
  EXPECT_EQ(shard.tokens()[4], 65535);
}

TEST(TokenShard, RoundTripI32) {
  TempDir dir;
  const std::string path = dir.file("a.bin");
  std::vector<int32_t> tokens = {0, 70000, 129279, 3};
  write_token_shard(path, tokens, TokenDtype::kI32);
  TokenShard shard = TokenShard::open(path, 129280);
  EXPECT_EQ(shard.dtype(), TokenDtype::kI32);
  EXPECT_EQ(read_all(shard), tokens);
}

TEST(TokenShard, StreamingWriterAcrossBufferFlushes) {
  TempDir dir;
  const std::string path = dir.file("big.bin");
  std::vector<int32_t> tokens(1'500'000);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int32_t>((i * 7919) % 258);
  {
    TokenShardWriter writer(path, TokenDtype::kU16);
    writer.append(std::span<const int32_t>(tokens).subspan(0, 700'000));
    writer.append(std::span<const int32_t>(tokens).subspan(700'000));
    EXPECT_EQ(writer.tokens_written(), 1'500'000);
    writer.commit();
  }
  TokenShard shard = TokenShard::open(path, 258);
  EXPECT_EQ(read_all(shard), tokens);
}

TEST(TokenShard, EmptyShardIsValidFormat) {
  TempDir dir;
  write_token_shard(dir.file("e.bin"), {}, TokenDtype::kU16);
  TokenShard shard = TokenShard::open(dir.file("e.bin"), 258);
  EXPECT_EQ(shard.size(), 0);
  EXPECT_TRUE(shard.tokens().empty());
}

TEST(TokenShard, MovedShardKeepsTokens) {
  TempDir dir;
  std::vector<int32_t> tokens = {5, 6, 7};
  write_token_shard(dir.file("m.bin"), tokens, TokenDtype::kU16);
  TokenShard a = TokenShard::open(dir.file("m.bin"), 258);
  TokenView view = a.tokens();
  TokenShard b = std::move(a);
  EXPECT_EQ(read_all(b), tokens);
  EXPECT_EQ(view[2], 7);  // the mapping did not move
}

TEST(TokenShardErrors, MissingFile) {
  TempDir dir;
  const std::string path = dir.file("nope.bin");
  std::string message = error_message([&] { TokenShard::open(path, 258); });
  EXPECT_TRUE(contains(message, path)) << message;
  EXPECT_TRUE(contains(message, "no such file")) << message;
}

TEST(TokenShardErrors, Directory) {
  TempDir dir;
  std::string message = error_message([&] { TokenShard::open(dir.path(), 258); });
  EXPECT_TRUE(contains(message, dir.path())) << message;
  EXPECT_TRUE(contains(message, "directory")) << message;
}

TEST(TokenShardErrors, EmptyFile) {
  TempDir dir;
  const std::string path = dir.file("empty.bin");
  testing::write_file(path, "");
  std::string message = error_message([&] { TokenShard::open(path, 258); });
  EXPECT_TRUE(contains(message, path)) << message;
  EXPECT_TRUE(contains(message, "empty file")) << message;
}

TEST(TokenShardErrors, BadMagic) {
  TempDir dir;
  const std::string path = dir.file("text.bin");
  testing::write_file(path, "This is a plain text file, not a token shard at all.\n");
  std::string message = error_message([&] { TokenShard::open(path, 258); });
  EXPECT_TRUE(contains(message, path)) << message;
  EXPECT_TRUE(contains(message, "bad magic: not a sadari token shard")) << message;
  // Shorter than the magic itself: still "not a shard".
  testing::write_file(path, "hey");
  EXPECT_TRUE(contains(error_message([&] { TokenShard::open(path, 258); }), "bad magic"));
}

TEST(TokenShardErrors, TruncatedPayload) {
  TempDir dir;
  const std::string path = dir.file("cut.bin");
  std::vector<int32_t> tokens(100, 7);
  write_token_shard(path, tokens, TokenDtype::kU16);
  std::filesystem::resize_file(path, 32 + 2 * 60 + 1);  // 60.5 tokens left
  std::string message = error_message([&] { TokenShard::open(path, 258); });
  EXPECT_TRUE(contains(message, path)) << message;
  EXPECT_TRUE(contains(message, "truncated: header says 100 tokens, file holds 60")) << message;
}

TEST(TokenShardErrors, TruncatedHeader) {
  TempDir dir;
  const std::string path = dir.file("cut.bin");
  write_token_shard(path, std::vector<int32_t>{1, 2}, TokenDtype::kU16);
  std::filesystem::resize_file(path, 20);
  std::string message = error_message([&] { TokenShard::open(path, 258); });
  EXPECT_TRUE(contains(message, path)) << message;
  EXPECT_TRUE(contains(message, "truncated")) << message;
}

TEST(TokenShardErrors, TrailingBytes) {
  TempDir dir;
  const std::string path = dir.file("long.bin");
  testing::write_file(path, craft_shard(1, 1, 2, payload_of(std::vector<uint16_t>{1, 2, 3})));
  std::string message = error_message([&] { TokenShard::open(path, 258); });
  EXPECT_TRUE(contains(message, path)) << message;
  EXPECT_TRUE(contains(message, "size mismatch")) << message;
}

TEST(TokenShardErrors, WrongVersion) {
  TempDir dir;
  const std::string path = dir.file("v2.bin");
  testing::write_file(path, craft_shard(2, 1, 1, payload_of(std::vector<uint16_t>{1})));
  std::string message = error_message([&] { TokenShard::open(path, 258); });
  EXPECT_TRUE(contains(message, path)) << message;
  EXPECT_TRUE(contains(message, "unsupported format version 2")) << message;
}

TEST(TokenShardErrors, UnknownDtype) {
  TempDir dir;
  const std::string path = dir.file("d3.bin");
  testing::write_file(path, craft_shard(1, 3, 1, payload_of(std::vector<uint16_t>{1})));
  std::string message = error_message([&] { TokenShard::open(path, 258); });
  EXPECT_TRUE(contains(message, path)) << message;
  EXPECT_TRUE(contains(message, "unknown dtype code 3")) << message;
}

TEST(TokenShardErrors, CorruptHeaderChecksum) {
  TempDir dir;
  const std::string path = dir.file("bad.bin");
  testing::write_file(path, craft_shard(1, 1, 1, payload_of(std::vector<uint16_t>{1}), false));
  std::string message = error_message([&] { TokenShard::open(path, 258); });
  EXPECT_TRUE(contains(message, path)) << message;
  EXPECT_TRUE(contains(message, "checksum")) << message;
}

TEST(TokenShardErrors, TokenOutsideVocabulary) {
  TempDir dir;
  const std::string path = dir.file("big-id.bin");
  write_token_shard(path, std::vector<int32_t>{1, 2, 300, 4}, TokenDtype::kU16);
  std::string message = error_message([&] { TokenShard::open(path, 258); });
  EXPECT_TRUE(contains(message, path)) << message;
  EXPECT_TRUE(contains(message, "token id 300 at position 2")) << message;
  EXPECT_NO_THROW(TokenShard::open(path, 301));

  const std::string negative = dir.file("negative.bin");
  testing::write_file(negative, craft_shard(1, 2, 2, payload_of(std::vector<int32_t>{5, -3})));
  message = error_message([&] { TokenShard::open(negative, 258); });
  EXPECT_TRUE(contains(message, "token id -3 at position 1")) << message;
}

TEST(TokenShardWriter, MissingDirectoryLeavesNothing) {
  TempDir dir;
  const std::string path = dir.file("no-such-dir/out.bin");
  std::string message = error_message([&] { write_token_shard(path, std::vector<int32_t>{1}, TokenDtype::kU16); });
  EXPECT_TRUE(contains(message, path)) << message;
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(TokenShardWriter, FailureKeepsPreviousFileAndRemovesTemporary) {
  TempDir dir;
  const std::string path = dir.file("out.bin");
  write_token_shard(path, std::vector<int32_t>{9, 8, 7}, TokenDtype::kU16);
  const std::string before = testing::read_file(path);

  std::string message =
      error_message([&] { write_token_shard(path, std::vector<int32_t>{1, 70000}, TokenDtype::kU16); });
  EXPECT_TRUE(contains(message, path)) << message;
  EXPECT_TRUE(contains(message, "70000")) << message;
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_EQ(testing::read_file(path), before);

  message = error_message([&] { write_token_shard(path, std::vector<int32_t>{-1}, TokenDtype::kI32); });
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_EQ(testing::read_file(path), before);
}

TEST(TokenShardWriter, AbandonedWriterLeavesNothing) {
  TempDir dir;
  const std::string path = dir.file("out.bin");
  {
    TokenShardWriter writer(path, TokenDtype::kU16);
    writer.append(std::vector<int32_t>{1, 2, 3});
    EXPECT_TRUE(std::filesystem::exists(path + ".tmp"));
    EXPECT_FALSE(std::filesystem::exists(path));
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

}  // namespace
}  // namespace sadari
