#include "optim/adamw.h"

#include <cmath>

namespace sadari {

AdamW::AdamW(const OptimConfig& cfg, ParameterStore& params) : cfg_(cfg) {
  SADARI_CHECK(params.dtype() == DType::f32, "AdamW needs f32 master weights, got ",
               dtype_name(params.dtype()));
  for (const auto& p : params.all()) {
    if (!p->trainable) continue;
    params_.push_back(p.get());
    m_.push_back(Tensor::zeros(p->value.shape(), DType::f32));
    v_.push_back(Tensor::zeros(p->value.shape(), DType::f32));
  }
}

void AdamW::step(double lr) {
  ++t_;
  const float b1 = static_cast<float>(cfg_.beta1), b2 = static_cast<float>(cfg_.beta2);
  const float bias1 = static_cast<float>(1.0 - std::pow(cfg_.beta1, static_cast<double>(t_)));
  const float bias2 = static_cast<float>(1.0 - std::pow(cfg_.beta2, static_cast<double>(t_)));
  const float step_size = static_cast<float>(lr) / bias1;
  const float inv_sqrt_bias2 = 1.0f / std::sqrt(bias2);
  const float eps = static_cast<float>(cfg_.eps);
  for (size_t i = 0; i < params_.size(); ++i) {
    Parameter* p = params_[i];
    float* w = p->w<float>();
    const float* g = p->g<float>();
    float* m = m_[i].data<float>();
    float* v = v_[i].data<float>();
    const float decay = p->weight_decay ? 1.0f - static_cast<float>(lr * cfg_.weight_decay) : 1.0f;
    const int64_t n = p->numel();
#pragma omp parallel for schedule(static) if (n > 16384)
    for (int64_t j = 0; j < n; ++j) {
      m[j] = b1 * m[j] + (1.0f - b1) * g[j];
      v[j] = b2 * v[j] + (1.0f - b2) * g[j] * g[j];
      const float denom = std::sqrt(v[j]) * inv_sqrt_bias2 + eps;
      w[j] = w[j] * decay - step_size * m[j] / denom;
    }
  }
}

}  // namespace sadari
