// Token shards: the on-disk format of tokenized corpora (docs/data-format.md).
//
// A shard is a 32-byte little-endian header followed by the tokens:
//   offset  0  u8[8]  magic "SDRTOKS\0"
//   offset  8  u32    format version (1)
//   offset 12  u32    dtype code: 1 = u16 tokens, 2 = i32 tokens
//   offset 16  u64    token count
//   offset 24  u64    header checksum: FNV-1a 64 of bytes [0, 24)
//   offset 32  count tokens of the dtype, little-endian
//
// Writing is atomic: TokenShardWriter writes "<path>.tmp", fsyncs it, renames it
// onto <path> and fsyncs the directory, so <path> is either absent, the previous
// complete file, or the new complete file; never half written.
// Reading maps the file (POSIX mmap) and validates all of it before handing out
// tokens, so later code never meets a bad token id in the middle of a run.
//
// Every failure throws sadari::Error with where = the file path.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "data/token_view.h"

namespace sadari {

inline constexpr char kTokenShardMagic[8] = {'S', 'D', 'R', 'T', 'O', 'K', 'S', '\0'};
inline constexpr uint32_t kTokenShardVersion = 1;
inline constexpr int64_t kTokenShardHeaderBytes = 32;

// Streams tokens into a new shard at `path`.
//
// Usage: construct, append() any number of times, commit(). Until commit() returns,
// nothing exists at `path` that this writer made: if anything throws, or the writer
// is destroyed without commit(), "<path>.tmp" is removed and a previous file at
// `path` is left untouched.
// REQUIRES: one writer per path at a time (the temporary name is fixed).
// Thread-safety: none; use from one thread.
class TokenShardWriter {
 public:
  // Creates "<path>.tmp". Throws Error if it cannot (missing directory, permissions).
  TokenShardWriter(std::string path, TokenDtype dtype);
  ~TokenShardWriter();
  TokenShardWriter(const TokenShardWriter&) = delete;
  TokenShardWriter& operator=(const TokenShardWriter&) = delete;

  // Appends tokens. Throws Error for a token the dtype cannot hold (negative, or
  // > 65535 for u16) or a write failure; the writer is then dead (see above).
  void append(std::span<const int32_t> tokens);
  void append(int32_t token) { append(std::span<const int32_t>(&token, 1)); }

  // Writes the header, fsyncs, renames onto `path`. Call at most once.
  void commit();

  int64_t tokens_written() const { return count_; }
  const std::string& path() const { return path_; }

 private:
  void flush_buffer();
  void abandon() noexcept;  // closes and removes the temporary file

  std::string path_, tmp_path_;
  TokenDtype dtype_;
  int fd_ = -1;
  int64_t count_ = 0;
  std::string buffer_;  // encoded tokens not yet written
};

// Writes a whole shard at once (TokenShardWriter underneath).
void write_token_shard(const std::string& path, std::span<const int32_t> tokens, TokenDtype dtype);

// A validated, memory-mapped shard. Move-only; unmaps on destruction.
//
// open() checks: the file exists and is a regular file, is not empty, holds a
// whole header, magic, version, header checksum, dtype code, that the file size
// equals header + count * dtype size, and that every token id is in
// [0, vocab_size). One pass over the tokens: cheap next to training on them.
// Thread-safety: after open(), all members are const; concurrent reads are safe.
class TokenShard {
 public:
  // REQUIRES: vocab_size > 0.
  static TokenShard open(const std::string& path, int64_t vocab_size);

  TokenShard(TokenShard&& other) noexcept;
  TokenShard& operator=(TokenShard&& other) noexcept;
  TokenShard(const TokenShard&) = delete;
  TokenShard& operator=(const TokenShard&) = delete;
  ~TokenShard();

  const std::string& path() const { return path_; }
  TokenDtype dtype() const { return dtype_; }
  int64_t size() const { return count_; }

  // The tokens; valid while this shard is alive (moving the shard keeps them valid).
  TokenView tokens() const;

 private:
  TokenShard() = default;
  void release() noexcept;

  std::string path_;
  void* map_ = nullptr;
  size_t map_bytes_ = 0;
  TokenDtype dtype_ = TokenDtype::kU16;
  int64_t count_ = 0;
};

}  // namespace sadari
