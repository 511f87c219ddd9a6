// Internal to kernels/: the checks every compute-interface function makes
// (kernels/ops.h), one wording for all of them. Not for use outside kernels/.
#pragma once

#include <string>
#include <string_view>

#include "core/error.h"
#include "core/tensor.h"
#include "kernels/exec_context.h"

namespace sadari::ops::detail {

// Error unless tensor `name` of operation `op` lives on ctx.device.
inline void check_device(const ExecContext& ctx, std::string_view op, std::string_view name,
                         const Tensor& t) {
  if (t.device() != ctx.device)
    fail(sadari::detail::cat(op, ": tensor ", name, " is on ", device_name(t.device()),
                             ", the operation runs on ", device_name(ctx.device)),
         "ops::" + std::string(op),
         "move the tensor to the context's device first (the interface never copies)");
}

inline void check_dtype(std::string_view op, std::string_view name, const Tensor& t, DType want) {
  SADARI_CHECK(t.dtype() == want, op, ": tensor ", name, " is ", dtype_name(t.dtype()),
               ", needs ", dtype_name(want));
}

inline void check_numel(std::string_view op, std::string_view name, const Tensor& t,
                        int64_t want) {
  SADARI_CHECK(t.numel() == want, op, ": tensor ", name, " has ", t.numel(), " elements, needs ",
               want);
}

// The CPU backend is the only one built in so far: every other device gets a
// clear error instead of a wrong answer.
inline void require_cpu(const ExecContext& ctx, std::string_view op) {
  if (ctx.device != Device::cpu)
    fail(sadari::detail::cat(op, ": no kernel for device ", device_name(ctx.device),
                             " in this build"),
         "ops::" + std::string(op), "build the backend for that device, or run on the CPU");
}

}  // namespace sadari::ops::detail
