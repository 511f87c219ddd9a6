#include "checkpoint/file_system.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace sadari {

namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail_errno(const std::string& what, const std::string& path, int err) {
  std::string hint;
  if (err == ENOSPC || err == EDQUOT)
    hint = "the disk is full: free space or point checkpoint.dir at a larger file system";
  else if (err == EACCES || err == EPERM || err == EROFS)
    hint = "check the permissions of the checkpoint directory";
  fail(detail::cat(what, " failed: ", std::strerror(err)), path, hint);
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }
  void append(const void* data, size_t bytes) override {
    const char* p = static_cast<const char*>(data);
    while (bytes > 0) {
      const ssize_t n = ::write(fd_, p, bytes);
      if (n < 0) {
        if (errno == EINTR) continue;
        fail_errno("write", path_, errno);
      }
      p += n;
      bytes -= static_cast<size_t>(n);
      size_ += static_cast<uint64_t>(n);
    }
  }
  void sync() override {
    if (::fsync(fd_) != 0) fail_errno("fsync", path_, errno);
  }
  void close() override {
    if (fd_ < 0) return;
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail_errno("close", path_, errno);
  }
  uint64_t size() const override { return size_; }

 private:
  std::string path_;
  int fd_;
  uint64_t size_ = 0;
};

class PosixFileSystem final : public FileSystem {
 public:
  std::unique_ptr<WritableFile> create(const std::string& path) override {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) fail_errno("creating the file", path, errno);
    return std::make_unique<PosixWritableFile>(path, fd);
  }

  void read(const std::string& path, uint64_t offset, void* out, size_t bytes) override {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail_errno("opening the file", path, errno);
    char* p = static_cast<char*>(out);
    size_t done = 0;
    while (done < bytes) {
      const ssize_t n = ::pread(fd, p + done, bytes - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int err = errno;
        ::close(fd);
        if (n == 0)
          fail(detail::cat("the file ends at byte ", offset + done, ", but ", offset + bytes,
                           " bytes were expected"),
               path, "the file is truncated: use an intact checkpoint");
        fail_errno("read", path, err);
      }
      done += static_cast<size_t>(n);
    }
    ::close(fd);
  }

  uint64_t file_size(const std::string& path) override {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) fail_errno("stat", path, errno);
    return static_cast<uint64_t>(st.st_size);
  }

  bool exists(const std::string& path) override {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
  }

  void create_dirs(const std::string& path) override {
    std::error_code ec;
    fs::create_directories(path, ec);
    if (ec) fail_errno("creating the directory", path, ec.value());
  }

  void remove_all(const std::string& path) override {
    std::error_code ec;
    fs::remove_all(path, ec);
    if (ec) fail_errno("removing", path, ec.value());
  }

  void rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0)
      fail_errno(detail::cat("renaming to ", to), from, errno);
  }

  void sync_dir(const std::string& path) override {
    const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) fail_errno("opening the directory", path, errno);
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) fail_errno("fsync of the directory", path, err);
  }

  std::vector<std::string> list(const std::string& dir) override {
    std::vector<std::string> names;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
      names.push_back(it->path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
};

}  // namespace

FileSystem& posix_file_system() {
  static PosixFileSystem fs;
  return fs;
}

void write_file_atomically(FileSystem& fs, const std::string& path, const std::string& data) {
  const std::string tmp = path + ".tmp";
  {
    auto f = fs.create(tmp);
    f->append(data.data(), data.size());
    f->sync();
    f->close();
  }
  fs.rename(tmp, path);
  fs.sync_dir(fs::path(path).parent_path().empty() ? "." : fs::path(path).parent_path().string());
}

std::string join_path(const std::string& a, const std::string& b) {
  return (fs::path(a) / b).string();
}

std::string read_whole_file(FileSystem& fs, const std::string& path) {
  std::string data(fs.file_size(path), '\0');
  if (!data.empty()) fs.read(path, 0, data.data(), data.size());
  return data;
}

}  // namespace sadari
