// NCCL status codes into sadari::Error: the one place that formats NCCL's
// errors (the kernels know nothing of NCCL). Compiled in CUDA builds only, with
// the NCCL backend (comm/CMakeLists.txt). Statuses are passed as int, so this
// header needs no nccl.h.
#pragma once

#include <string>

namespace sadari::nccl {

// NCCL's own text for a status (ncclGetErrorString).
std::string error_string(int status);

// What to do about a failed call with that status: a peer or network failure
// (look at the other ranks), a misuse (a bug in sadari), or else NCCL_DEBUG.
std::string error_hint(int status);

// Throws Error "<operation> failed: <NCCL's text>[ (<detail>)]" at `where`, with
// error_hint(status). `detail`: ncclGetLastError of the communicator, if any.
// REQUIRES: status != ncclSuccess.
[[noreturn]] void throw_nccl_error(const std::string& operation, int status,
                                   const std::string& where, const std::string& detail = {});

}  // namespace sadari::nccl
