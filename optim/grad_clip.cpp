#include "optim/grad_clip.h"

#include <cmath>

namespace sadari {

namespace {
template <typename T>
double sum_squares(const T* g, int64_t n) {
  double s = 0;
  // Sequential double accumulation: the same result for any thread count, and
  // cheap next to a training step.
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(g[i]) * static_cast<double>(g[i]);
  return s;
}
}  // namespace

double gradient_norm(const ParameterStore& params) {
  double total = 0;
  for (const auto& p : params.all()) {
    if (!p->trainable) continue;
    total += params.dtype() == DType::f32 ? sum_squares(p->g<float>(), p->numel())
                                          : sum_squares(p->g<double>(), p->numel());
  }
  return std::sqrt(total);
}

void scale_gradients(ParameterStore& params, double factor) {
  for (const auto& p : params.all()) {
    if (!p->trainable) continue;
    const int64_t n = p->numel();
    if (params.dtype() == DType::f32) {
      float* g = p->g<float>();
      const float f = static_cast<float>(factor);
      for (int64_t i = 0; i < n; ++i) g[i] *= f;
    } else {
      double* g = p->g<double>();
      for (int64_t i = 0; i < n; ++i) g[i] *= factor;
    }
  }
}

double clip_gradients(ParameterStore& params, double max_norm) {
  const double norm = gradient_norm(params);
  if (max_norm > 0 && norm > max_norm) scale_gradients(params, max_norm / (norm + 1e-12));
  return norm;
}

}  // namespace sadari
