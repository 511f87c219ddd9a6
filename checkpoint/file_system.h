// FileSystem: the file operations a checkpoint needs, behind an interface so tests
// can inject faults (a disk that fills up, a write that fails half-way) the way
// LevelDB's Env does. PosixFileSystem is the real one.
//
// Every failure throws Error naming the path and the system's reason (strerror),
// with a hint for the common cases (ENOSPC: free space or point checkpoint.dir
// elsewhere; EACCES: permissions). Durability: data is on disk only after
// WritableFile::sync(); a directory entry (create, rename) only after
// sync_dir() of its parent. rename() is atomic within one file system (POSIX).
//
// Thread safety: PosixFileSystem is stateless and may be shared; a WritableFile
// is used by one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sadari {

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual void append(const void* data, size_t bytes) = 0;
  virtual void sync() = 0;   // fsync: the data is durable when it returns
  virtual void close() = 0;  // idempotent; the destructor closes without throwing
  virtual uint64_t size() const = 0;  // bytes appended so far
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  // Creates (or truncates) `path` for writing.
  virtual std::unique_ptr<WritableFile> create(const std::string& path) = 0;
  // Reads `bytes` bytes at `offset`; throws when the file is shorter.
  virtual void read(const std::string& path, uint64_t offset, void* out, size_t bytes) = 0;
  virtual uint64_t file_size(const std::string& path) = 0;
  virtual bool exists(const std::string& path) = 0;
  virtual void create_dirs(const std::string& path) = 0;
  virtual void remove_all(const std::string& path) = 0;  // no error when absent
  virtual void rename(const std::string& from, const std::string& to) = 0;
  virtual void sync_dir(const std::string& path) = 0;
  // Names (not paths) of the entries of a directory, sorted; empty when absent.
  virtual std::vector<std::string> list(const std::string& dir) = 0;
};

// The process-wide POSIX file system.
FileSystem& posix_file_system();

// Writes `data` to `path` durably and atomically: path.tmp, fsync, rename,
// fsync of the parent directory. A crash leaves either the old file or the new.
void write_file_atomically(FileSystem& fs, const std::string& path, const std::string& data);
// a / b as a path string.
std::string join_path(const std::string& a, const std::string& b);
// The whole file as a string.
std::string read_whole_file(FileSystem& fs, const std::string& path);

}  // namespace sadari
