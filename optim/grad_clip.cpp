#include "optim/grad_clip.h"

#include <cmath>

#include "kernels/ops.h"

namespace sadari {

double gradient_norm(const ParameterStore& params, const ExecContext& ctx) {
  double total = 0;
  for (const auto& p : params.all())
    if (p->trainable) total += ops::sum_squares(ctx, p->grad);
  return std::sqrt(total);
}

void scale_gradients(ParameterStore& params, double factor, const ExecContext& ctx) {
  for (const auto& p : params.all())
    if (p->trainable) ops::scale(ctx, p->grad, factor);
}

double clip_gradients(ParameterStore& params, double max_norm, const ExecContext& ctx) {
  const double norm = gradient_norm(params, ctx);
  if (max_norm > 0 && norm > max_norm) scale_gradients(params, max_norm / (norm + 1e-12), ctx);
  return norm;
}

}  // namespace sadari
