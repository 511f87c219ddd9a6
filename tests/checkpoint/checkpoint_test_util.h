// Shared pieces of the checkpoint tests: a scratch root per test, a FileSystem
// that runs out of space after a byte budget, and deterministic tensor data.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "checkpoint/checkpoint_writer.h"
#include "checkpoint/file_system.h"
#include "core/error.h"

namespace sadari::testing {

inline std::string scratch_dir(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("sadari-ckpt-" + std::to_string(::getpid())) /
                                    (std::string(info->name()) + "-" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

// Delegates to the POSIX file system, but appends fail with ENOSPC's message
// once `budget` bytes have been written in total (a disk filling up mid-save).
class FullDiskFileSystem final : public FileSystem {
 public:
  explicit FullDiskFileSystem(uint64_t budget) : budget_(budget) {}

  std::unique_ptr<WritableFile> create(const std::string& path) override {
    class File final : public WritableFile {
     public:
      File(std::unique_ptr<WritableFile> inner, FullDiskFileSystem* fs, std::string path)
          : inner_(std::move(inner)), fs_(fs), path_(std::move(path)) {}
      void append(const void* data, size_t bytes) override {
        if (fs_->written_ + bytes > fs_->budget_)
          fail(detail::cat("write failed: ", std::strerror(ENOSPC)), path_,
               "the disk is full: free space or point checkpoint.dir at a larger file system");
        fs_->written_ += bytes;
        inner_->append(data, bytes);
      }
      void sync() override { inner_->sync(); }
      void close() override { inner_->close(); }
      uint64_t size() const override { return inner_->size(); }

     private:
      std::unique_ptr<WritableFile> inner_;
      FullDiskFileSystem* fs_;
      std::string path_;
    };
    return std::make_unique<File>(posix().create(path), this, path);
  }
  void read(const std::string& p, uint64_t o, void* out, size_t n) override { posix().read(p, o, out, n); }
  uint64_t file_size(const std::string& p) override { return posix().file_size(p); }
  bool exists(const std::string& p) override { return posix().exists(p); }
  void create_dirs(const std::string& p) override { posix().create_dirs(p); }
  void remove_all(const std::string& p) override { posix().remove_all(p); }
  void rename(const std::string& a, const std::string& b) override { posix().rename(a, b); }
  void sync_dir(const std::string& p) override { posix().sync_dir(p); }
  std::vector<std::string> list(const std::string& d) override { return posix().list(d); }

 private:
  static FileSystem& posix() { return posix_file_system(); }
  uint64_t budget_;
  uint64_t written_ = 0;
};

// Tensor values that depend on (tag, index) only.
inline std::vector<float> pattern(int64_t n, float tag) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = tag + 0.001f * static_cast<float>(i);
  return v;
}

}  // namespace sadari::testing
