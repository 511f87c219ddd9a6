// Reading a checkpoint: the manifest, and any element range of any logical
// tensor, whatever layout wrote it (so a run under another layout, ZeRO
// sharding or expert placement loads what its ranks need: resharding is just
// reading other ranges).
//
// Every piece read is checked against its CRC-32; a truncated or damaged piece
// throws Error naming the tensor, the data file and the byte range. Reads are
// local file reads (no communication); any number of ranks may read at once.
// Ownership: the reader borrows the FileSystem (must outlive it). Thread safety:
// const methods may be called from several threads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "checkpoint/file_system.h"
#include "checkpoint/manifest.pb.h"

namespace sadari {

class CheckpointReader {
 public:
  // `path`: a checkpoint directory, or a root with `latest` (checkpoint_dir.h).
  // Throws Error when the manifest is missing, damaged or of an unknown format.
  explicit CheckpointReader(const std::string& path, FileSystem* fs = nullptr);

  const std::string& dir() const { return dir_; }
  const ckpt::Manifest& manifest() const { return manifest_; }
  // nullptr when absent.
  const ckpt::Tensor* find(const std::string& name) const;
  // Like find, but throws Error naming the tensor and the checkpoint.
  const ckpt::Tensor& tensor(const std::string& name) const;

  // Elements [begin, end) of tensor `name` into out ((end - begin) elements of
  // its dtype). REQUIRES 0 <= begin <= end <= numel. Throws Error (see above).
  void read(const std::string& name, int64_t begin, int64_t end, void* out) const;
  // The whole tensor.
  std::vector<char> read_all(const std::string& name) const;

  // Reads every piece and checks sizes and checksums; returns one line per
  // problem (empty: intact). Never throws for a damaged piece.
  std::vector<std::string> verify() const;

  // Total bytes of the data files.
  uint64_t data_bytes() const;

 private:
  FileSystem* fs_;
  std::string dir_;
  ckpt::Manifest manifest_;
};

int64_t tensor_numel(const ckpt::Tensor& t);

}  // namespace sadari
