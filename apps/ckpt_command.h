// `sadari ckpt inspect|verify|export`: looking into a checkpoint without a run.
// Local to one process; needs no config file and no MPI.
//   inspect DIR [--json]             step, versions, layout, tensors, sizes
//   verify DIR                       every piece's size and checksum; exit 1 if any fails
//   export DIR --format safetensors OUT [--dtype f32|bf16]
// DIR: a checkpoint directory or a checkpoint root (its `latest`).
#pragma once

#include <string>
#include <vector>

namespace sadari {

// Returns the exit code. Throws UsageError for command-line mistakes and Error
// for unreadable checkpoints (naming the file).
int cmd_ckpt(const std::vector<std::string>& args);

}  // namespace sadari
