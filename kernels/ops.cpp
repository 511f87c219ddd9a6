#include "kernels/ops.h"

#include <string_view>

#include "core/error.h"
#include "kernels/cpu/adamw.h"
#include "kernels/cpu/elementwise.h"

namespace sadari::ops {

namespace {

// Every tensor of an operation on the context's device.
void check_device(const ExecContext& ctx, std::string_view op, std::string_view tensor,
                  const Tensor& t) {
  if (t.device() != ctx.device)
    fail(detail::cat(op, ": tensor ", tensor, " is on ", device_name(t.device()),
                     ", the operation runs on ", device_name(ctx.device)),
         "ops::" + std::string(op),
         "move the tensor to the context's device first (the interface never copies)");
}

void check_dtype(std::string_view op, std::string_view tensor, const Tensor& t, DType want) {
  SADARI_CHECK(t.dtype() == want, op, ": tensor ", tensor, " is ", dtype_name(t.dtype()),
               ", needs ", dtype_name(want));
}

void check_numel(std::string_view op, std::string_view tensor, const Tensor& t, int64_t want) {
  SADARI_CHECK(t.numel() == want, op, ": tensor ", tensor, " has ", t.numel(),
               " elements, needs ", want);
}

[[noreturn]] void no_kernel(const ExecContext& ctx, std::string_view op) {
  fail(detail::cat(op, ": no kernel for device ", device_name(ctx.device), " in this build"),
       "ops::" + std::string(op), "build the backend for that device, or run on the CPU");
}

}  // namespace

void adamw_update(const ExecContext& ctx, const AdamWCoefficients& c, bool with_decay,
                  const Tensor& w, const Tensor& g, const Tensor& m, const Tensor& v) {
  constexpr std::string_view op = "adamw_update";
  const std::pair<std::string_view, const Tensor*> tensors[] = {{"w", &w}, {"g", &g}, {"m", &m}, {"v", &v}};
  for (const auto& [name, t] : tensors) {
    check_device(ctx, op, name, *t);
    check_dtype(op, name, *t, DType::f32);
    check_numel(op, name, *t, w.numel());
  }
  if (ctx.device != Device::cpu) no_kernel(ctx, op);
  cpu::adamw_update(c, with_decay, w.data<float>(), g.data<float>(), m.data<float>(),
                    v.data<float>(), w.numel());
}

double sum_squares(const ExecContext& ctx, const Tensor& x) {
  constexpr std::string_view op = "sum_squares";
  check_device(ctx, op, "x", x);
  SADARI_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::f64, op, ": tensor x is ",
               dtype_name(x.dtype()), ", needs f32 or f64");
  if (ctx.device != Device::cpu) no_kernel(ctx, op);
  return x.dtype() == DType::f32 ? cpu::sum_squares(x.data<float>(), x.numel())
                                 : cpu::sum_squares(x.data<double>(), x.numel());
}

void scale(const ExecContext& ctx, const Tensor& x, double factor) {
  constexpr std::string_view op = "scale";
  check_device(ctx, op, "x", x);
  SADARI_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::f64, op, ": tensor x is ",
               dtype_name(x.dtype()), ", needs f32 or f64");
  if (ctx.device != Device::cpu) no_kernel(ctx, op);
  if (x.dtype() == DType::f32)
    cpu::scale(x.data<float>(), static_cast<float>(factor), x.numel());
  else
    cpu::scale(x.data<double>(), factor, x.numel());
}

}  // namespace sadari::ops
