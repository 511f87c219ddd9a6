#include "kernels/cpu/adamw.h"

#include <cmath>

namespace sadari::cpu {

void adamw_update(const AdamWCoefficients& c, bool with_decay, float* w, const float* g, float* m,
                  float* v, int64_t n) {
  const float b1 = c.b1, b2 = c.b2, step_size = c.step_size, inv_sqrt_bias2 = c.inv_sqrt_bias2;
  const float eps = c.eps, decay = with_decay ? c.decay : 1.0f;
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t j = 0; j < n; ++j) {
    m[j] = b1 * m[j] + (1.0f - b1) * g[j];
    v[j] = b2 * v[j] + (1.0f - b2) * g[j] * g[j];
    const float denom = std::sqrt(v[j]) * inv_sqrt_bias2 + eps;
    w[j] = w[j] * decay - step_size * m[j] / denom;
  }
}

}  // namespace sadari::cpu
