// Saving a sharded checkpoint: every rank writes its own pieces, rank 0 the
// manifest; published atomically (checkpoint/checkpoint_dir.h).
//
// Protocol (save_checkpoint, COLLECTIVE over `world`):
//   1. rank 0 removes stale *.partial directories and creates
//      <root>/step-N.partial;                                     agree
//   2. every rank writes its pieces, in order, to rank-R.bin there, computing a
//      CRC-32 per piece, and fsyncs the file;                     agree
//   3. rank 0 gathers the piece lists, merges them per logical tensor and checks
//      that every tensor's pieces cover its elements exactly once with one shape
//      and dtype; writes manifest.pb, fsyncs it and the directory; renames
//      step-N.partial to step-N (replacing an older step-N), fsyncs the root;
//      points `latest` at it (atomic); removes checkpoints beyond `keep`;  agree
// "agree" = comm/string_collectives.h first_failure: when any rank failed (disk
// full, permissions, a gap in the pieces) every rank throws the same Error
// naming that rank, and the previous checkpoint and `latest` are untouched.
// A process killed anywhere in 1-3 leaves at most a *.partial directory.
//
// Root must be on a file system every rank sees (a shared file system on a
// cluster; a local disk for one node).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "checkpoint/file_system.h"
#include "checkpoint/manifest.pb.h"
#include "comm/communicator.h"
#include "core/dtype.h"

namespace sadari {

// A rank's contribution to one logical tensor: elements [begin, end) of the
// row-major flattening of a tensor of `shape`. The data is borrowed until
// save_checkpoint returns.
struct TensorPiece {
  std::string tensor;
  std::vector<int64_t> shape;
  DType dtype = DType::f32;
  int64_t begin = 0, end = 0;
  const void* data = nullptr;
};

struct SaveOptions {
  int64_t keep = 3;  // complete checkpoints kept (>= 1)
  FileSystem* fs = nullptr;  // nullptr: posix_file_system()
};

// COLLECTIVE over world. `header` (read on rank 0): step, versions, config,
// plan, layout, counters, notes; its tensors and files are filled here.
// Returns the published directory. Throws Error (every rank the same) on failure.
std::string save_checkpoint(Communicator& world, const std::string& root,
                            const ckpt::Manifest& header, const std::vector<TensorPiece>& pieces,
                            const SaveOptions& options = {});

}  // namespace sadari
