#include "comm/nccl/nccl_check.h"

#include <nccl.h>

#include "core/error.h"

namespace sadari::nccl {

std::string error_string(int status) {
  return ncclGetErrorString(static_cast<ncclResult_t>(status));
}

std::string error_hint(int status) {
  switch (static_cast<ncclResult_t>(status)) {
    case ncclSystemError:
    case ncclRemoteError:
      return "a peer or the network failed: check the other ranks' logs (a failed peer's own "
             "error comes first); NCCL_DEBUG=WARN names the cause";
    case ncclInvalidUsage:
    case ncclInvalidArgument:
      return "this is a bug in sadari; run with NCCL_DEBUG=WARN and report the message";
    default:
      return "if a peer rank failed, its own error comes first; NCCL_DEBUG=WARN prints "
             "NCCL's reason";
  }
}

void throw_nccl_error(const std::string& operation, int status, const std::string& where,
                      const std::string& detail) {
  fail(detail::cat(operation, " failed: ", error_string(status),
                   detail.empty() ? std::string() : detail::cat(" (", detail, ")")),
       where, error_hint(status));
}

}  // namespace sadari::nccl
