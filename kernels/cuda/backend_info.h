// What the CUDA backend of this build is running on, for `sadari version` and run
// records: the libraries actually loaded (queried at run time, not the headers'
// versions) and the GPUs visible. Works, and never throws, on a machine without
// a GPU or driver: the line then says so. NCCL is not a kernel library: its
// version comes from comm/nccl (nccl_library_version).
#pragma once

#include <string>

namespace sadari::cuda {

// One line, e.g.
//   "CUDA runtime 13.0, driver 13.0, cuBLASLt 13.1.0, code sm_90a,
//    8 GPUs: 8 x NVIDIA H200 (sm_90, 140 GiB)"
// or "..., driver none, ..., no GPU (no CUDA driver, or one too old)".
std::string backend_info();

}  // namespace sadari::cuda
