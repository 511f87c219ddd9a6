#include "kernels/ops.h"

#include <string_view>

#include "core/error.h"
#include "kernels/cpu/adamw.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/ops_checks.h"

namespace sadari::ops {

using detail::check_device;
using detail::check_dtype;
using detail::check_numel;

void adamw_update(const ExecContext& ctx, const AdamWCoefficients& c, bool with_decay,
                  const Tensor& w, const Tensor& g, const Tensor& m, const Tensor& v) {
  constexpr std::string_view op = "adamw_update";
  const std::pair<std::string_view, const Tensor*> tensors[] = {{"w", &w}, {"g", &g}, {"m", &m}, {"v", &v}};
  for (const auto& [name, t] : tensors) {
    check_device(ctx, op, name, *t);
    check_dtype(op, name, *t, DType::f32);
    check_numel(op, name, *t, w.numel());
  }
  detail::require_cpu(ctx, op);
  cpu::adamw_update(c, with_decay, w.data<float>(), g.data<float>(), m.data<float>(),
                    v.data<float>(), w.numel());
}

double sum_squares(const ExecContext& ctx, const Tensor& x) {
  constexpr std::string_view op = "sum_squares";
  check_device(ctx, op, "x", x);
  SADARI_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::f64, op, ": tensor x is ",
               dtype_name(x.dtype()), ", needs f32 or f64");
  detail::require_cpu(ctx, op);
  return x.dtype() == DType::f32 ? cpu::sum_squares(x.data<float>(), x.numel())
                                 : cpu::sum_squares(x.data<double>(), x.numel());
}

void scale(const ExecContext& ctx, const Tensor& x, double factor) {
  constexpr std::string_view op = "scale";
  check_device(ctx, op, "x", x);
  SADARI_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::f64, op, ": tensor x is ",
               dtype_name(x.dtype()), ", needs f32 or f64");
  detail::require_cpu(ctx, op);
  if (x.dtype() == DType::f32)
    cpu::scale(x.data<float>(), static_cast<float>(factor), x.numel());
  else
    cpu::scale(x.data<double>(), factor, x.numel());
}

}  // namespace sadari::ops
