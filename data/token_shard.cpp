#include "data/token_shard.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <system_error>
#include <utility>

#include "core/error.h"
#include "core/rng.h"

namespace sadari {

// The format is little-endian and both sides copy integers byte-for-byte; a
// big-endian port would need explicit byte swaps here and in TokenView.
static_assert(std::endian::native == std::endian::little, "token shards assume a little-endian host");

namespace {

constexpr size_t kWriteBufferBytes = size_t{1} << 20;

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

// FNV-1a 64 over the first 24 header bytes (stream_key is exactly FNV-1a 64).
uint64_t header_checksum(const char* header) { return stream_key(std::string_view(header, 24)); }

void encode_header(char* header, TokenDtype dtype, int64_t count) {
  std::memset(header, 0, kTokenShardHeaderBytes);
  std::memcpy(header, kTokenShardMagic, 8);
  uint32_t version = kTokenShardVersion, code = static_cast<uint32_t>(dtype);
  uint64_t n = static_cast<uint64_t>(count);
  std::memcpy(header + 8, &version, 4);
  std::memcpy(header + 12, &code, 4);
  std::memcpy(header + 16, &n, 8);
  uint64_t checksum = header_checksum(header);
  std::memcpy(header + 24, &checksum, 8);
}

// write(2) until everything is written; returns 0 or an errno value.
int write_all(int fd, const char* data, size_t bytes, off_t offset = -1) {
  while (bytes > 0) {
    ssize_t n = offset < 0 ? ::write(fd, data, bytes) : ::pwrite(fd, data, bytes, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += n;
    bytes -= static_cast<size_t>(n);
    if (offset >= 0) offset += n;
  }
  return 0;
}

// Makes a completed rename durable. Best effort: some filesystems refuse to fsync
// a directory, and the data itself is already on disk by then.
void sync_parent_directory(const std::string& path) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) parent = ".";
  int dir = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return;
  (void)::fsync(dir);
  ::close(dir);
}

}  // namespace

// ---------------------------------------------------------------------------
// Writer

TokenShardWriter::TokenShardWriter(std::string path, TokenDtype dtype)
    : path_(std::move(path)), tmp_path_(path_ + ".tmp"), dtype_(dtype) {
  SADARI_CHECK(dtype == TokenDtype::kU16 || dtype == TokenDtype::kI32, "unknown token dtype");
  fd_ = ::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    int err = errno;
    fail(detail::cat("cannot create ", tmp_path_, ": ", errno_text(err)), path_,
         "check that the output directory exists and is writable");
  }
  // Placeholder header; commit() rewrites it once the count is known.
  char header[kTokenShardHeaderBytes] = {};
  if (int err = write_all(fd_, header, sizeof header)) {
    abandon();
    fail(detail::cat("cannot write ", tmp_path_, ": ", errno_text(err)), path_);
  }
  buffer_.reserve(kWriteBufferBytes);
}

TokenShardWriter::~TokenShardWriter() { abandon(); }

void TokenShardWriter::abandon() noexcept {
  if (fd_ < 0) return;
  ::close(fd_);
  fd_ = -1;
  ::unlink(tmp_path_.c_str());
}

void TokenShardWriter::append(std::span<const int32_t> tokens) {
  SADARI_CHECK(fd_ >= 0, path_, ": append() on a token shard writer that was committed or failed");
  const int32_t limit = dtype_ == TokenDtype::kU16 ? 65535 : INT32_MAX;
  for (size_t i = 0; i < tokens.size(); ++i) {
    int32_t token = tokens[i];
    if (token < 0 || token > limit) {
      abandon();
      fail(detail::cat("token id ", token, " (appended token ", count_ + static_cast<int64_t>(i),
                       ") does not fit a ", token_dtype_name(dtype_), " shard"),
           path_, dtype_ == TokenDtype::kU16 ? "write an i32 shard for vocabularies above 65536" : "");
    }
    if (dtype_ == TokenDtype::kU16) {
      uint16_t value = static_cast<uint16_t>(token);
      buffer_.append(reinterpret_cast<const char*>(&value), 2);
    } else {
      buffer_.append(reinterpret_cast<const char*>(&token), 4);
    }
    if (buffer_.size() >= kWriteBufferBytes) flush_buffer();
  }
  count_ += static_cast<int64_t>(tokens.size());
}

void TokenShardWriter::flush_buffer() {
  if (buffer_.empty()) return;
  if (int err = write_all(fd_, buffer_.data(), buffer_.size())) {
    abandon();
    fail(detail::cat("cannot write ", tmp_path_, ": ", errno_text(err)), path_,
         err == ENOSPC ? "the disk is full" : "");
  }
  buffer_.clear();
}

void TokenShardWriter::commit() {
  SADARI_CHECK(fd_ >= 0, path_, ": commit() on a token shard writer that was committed or failed");
  flush_buffer();
  char header[kTokenShardHeaderBytes];
  encode_header(header, dtype_, count_);
  if (int err = write_all(fd_, header, sizeof header, 0)) {
    abandon();
    fail(detail::cat("cannot write the header of ", tmp_path_, ": ", errno_text(err)), path_);
  }
  // fsync before rename: otherwise a crash can leave the new name pointing at a
  // file whose data never reached the disk.
  if (::fsync(fd_) != 0) {
    int err = errno;
    abandon();
    fail(detail::cat("cannot fsync ", tmp_path_, ": ", errno_text(err)), path_);
  }
  if (::close(fd_) != 0) {
    int err = errno;
    fd_ = -1;
    ::unlink(tmp_path_.c_str());
    fail(detail::cat("cannot close ", tmp_path_, ": ", errno_text(err)), path_);
  }
  fd_ = -1;
  if (::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp_path_.c_str());
    fail(detail::cat("cannot rename ", tmp_path_, " onto the target: ", errno_text(err)), path_,
         err == EISDIR ? "the output path is a directory; name a file" : "");
  }
  sync_parent_directory(path_);
}

void write_token_shard(const std::string& path, std::span<const int32_t> tokens, TokenDtype dtype) {
  TokenShardWriter writer(path, dtype);
  writer.append(tokens);
  writer.commit();
}

// ---------------------------------------------------------------------------
// Reader

TokenShard::TokenShard(TokenShard&& other) noexcept
    : path_(std::move(other.path_)),
      map_(std::exchange(other.map_, nullptr)),
      map_bytes_(std::exchange(other.map_bytes_, 0)),
      dtype_(other.dtype_),
      count_(std::exchange(other.count_, 0)) {}

TokenShard& TokenShard::operator=(TokenShard&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    map_ = std::exchange(other.map_, nullptr);
    map_bytes_ = std::exchange(other.map_bytes_, 0);
    dtype_ = other.dtype_;
    count_ = std::exchange(other.count_, 0);
  }
  return *this;
}

TokenShard::~TokenShard() { release(); }

void TokenShard::release() noexcept {
  if (map_) ::munmap(map_, map_bytes_);
  map_ = nullptr;
  map_bytes_ = 0;
}

TokenView TokenShard::tokens() const {
  if (!map_) return TokenView();
  const char* payload = static_cast<const char*>(map_) + kTokenShardHeaderBytes;
  // The mapping is page-aligned and the header is 32 bytes, so the payload is
  // aligned for both u16 and i32 access.
  if (dtype_ == TokenDtype::kU16)
    return TokenView(std::span<const uint16_t>(reinterpret_cast<const uint16_t*>(payload), count_));
  return TokenView(std::span<const int32_t>(reinterpret_cast<const int32_t*>(payload), count_));
}

TokenShard TokenShard::open(const std::string& path, int64_t vocab_size) {
  SADARI_CHECK(vocab_size > 0, "TokenShard::open: vocab_size must be positive, got ", vocab_size);
  const std::string hint_make = "make one with `sadari prepare-data`";

  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) fail("no such file", path, hint_make);
    fail(detail::cat("cannot open: ", errno_text(err)), path);
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    int err = errno;
    ::close(fd);
    fail(detail::cat("cannot stat: ", errno_text(err)), path);
  }
  if (S_ISDIR(info.st_mode)) {
    ::close(fd);
    fail("is a directory, not a token shard", path, "name the shard file itself");
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(fd);
    fail("not a regular file", path);
  }
  const int64_t file_bytes = info.st_size;
  if (file_bytes == 0) {
    ::close(fd);
    fail("empty file", path, "the shard was never written; run `sadari prepare-data` again");
  }

  TokenShard shard;  // owns the mapping from here on, so every fail() below unmaps
  shard.path_ = path;
  void* map = ::mmap(nullptr, static_cast<size_t>(file_bytes), PROT_READ, MAP_PRIVATE, fd, 0);
  int map_err = errno;
  ::close(fd);  // the mapping keeps the file referenced
  if (map == MAP_FAILED) fail(detail::cat("cannot mmap: ", errno_text(map_err)), path);
  shard.map_ = map;
  shard.map_bytes_ = static_cast<size_t>(file_bytes);
  const char* bytes = static_cast<const char*>(map);

  // Compare what is there of the magic first: a short text file is "not a shard"
  // rather than "a truncated shard".
  if (std::memcmp(bytes, kTokenShardMagic, static_cast<size_t>(std::min<int64_t>(file_bytes, 8))) != 0)
    fail("bad magic: not a sadari token shard", path, hint_make);
  if (file_bytes < kTokenShardHeaderBytes)
    fail(detail::cat("truncated: file is ", file_bytes, " bytes, shorter than the ",
                     kTokenShardHeaderBytes, "-byte header"),
         path);
  uint32_t version, code;
  uint64_t count, checksum;
  std::memcpy(&version, bytes + 8, 4);
  std::memcpy(&code, bytes + 12, 4);
  std::memcpy(&count, bytes + 16, 8);
  std::memcpy(&checksum, bytes + 24, 8);
  if (version != kTokenShardVersion)
    fail(detail::cat("unsupported format version ", version, " (this build reads version ",
                     kTokenShardVersion, ")"),
         path, "prepare the data again with this build");
  if (checksum != header_checksum(bytes))
    fail("corrupt header: checksum mismatch", path, "the file was damaged; prepare the data again");
  if (code != static_cast<uint32_t>(TokenDtype::kU16) && code != static_cast<uint32_t>(TokenDtype::kI32))
    fail(detail::cat("unknown dtype code ", code, " (1 = u16, 2 = i32)"), path);
  const TokenDtype dtype = static_cast<TokenDtype>(code);
  const int64_t width = token_dtype_bytes(dtype);
  const int64_t payload = file_bytes - kTokenShardHeaderBytes;
  const int64_t held = payload / width;
  if (count > static_cast<uint64_t>(held))
    fail(detail::cat("truncated: header says ", count, " tokens, file holds ", held), path,
         "the shard was cut short (copy or disk problem); prepare it again");
  if (static_cast<int64_t>(count) * width != payload)
    fail(detail::cat("size mismatch: header says ", count, " tokens (", count * width,
                     " bytes), file holds ", payload, " bytes after the header"),
         path, "the shard was damaged; prepare it again");
  shard.dtype_ = dtype;
  shard.count_ = static_cast<int64_t>(count);

  // Every id must be a row of the embedding table; find the first offender only
  // if there is one, so the common case is a tight max-reduction.
  const TokenView view = shard.tokens();
  const int64_t n = view.size();
  bool bad = false;
  if (dtype == TokenDtype::kU16) {
    if (vocab_size <= 65535) {
      const uint16_t* t = reinterpret_cast<const uint16_t*>(bytes + kTokenShardHeaderBytes);
      uint16_t max = 0;
      for (int64_t i = 0; i < n; ++i) max = std::max(max, t[i]);
      bad = n > 0 && max >= vocab_size;
    }
  } else {
    const int32_t* t = reinterpret_cast<const int32_t*>(bytes + kTokenShardHeaderBytes);
    int32_t max = 0, min = 0;
    for (int64_t i = 0; i < n; ++i) {
      max = std::max(max, t[i]);
      min = std::min(min, t[i]);
    }
    bad = min < 0 || max >= vocab_size;
  }
  if (bad) {
    for (int64_t i = 0; i < n; ++i) {
      int32_t id = view[i];
      if (id < 0 || id >= vocab_size)
        fail(detail::cat("token id ", id, " at position ", i, " is outside the vocabulary [0, ",
                         vocab_size, ")"),
             path, "model.vocab_size must exceed every token id; was the shard made with another tokenizer?");
    }
  }
  return shard;
}

}  // namespace sadari
