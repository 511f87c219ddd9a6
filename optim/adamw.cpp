#include "optim/adamw.h"

#include <cmath>

namespace sadari {

AdamWCoefficients AdamWCoefficients::at(const OptimConfig& cfg, double lr, int64_t t) {
  AdamWCoefficients c;
  c.b1 = static_cast<float>(cfg.beta1);
  c.b2 = static_cast<float>(cfg.beta2);
  const float bias1 = static_cast<float>(1.0 - std::pow(cfg.beta1, static_cast<double>(t)));
  const float bias2 = static_cast<float>(1.0 - std::pow(cfg.beta2, static_cast<double>(t)));
  c.step_size = static_cast<float>(lr) / bias1;
  c.inv_sqrt_bias2 = 1.0f / std::sqrt(bias2);
  c.eps = static_cast<float>(cfg.eps);
  c.decay = 1.0f - static_cast<float>(lr * cfg.weight_decay);
  return c;
}

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
  const AdamWCoefficients c = AdamWCoefficients::at(cfg_, lr, t_);
  for (size_t i = 0; i < params_.size(); ++i) {
    Parameter* p = params_[i];
    adamw_update(c, p->weight_decay, p->w<float>(), p->g<float>(), m_[i].data<float>(),
                 v_[i].data<float>(), p->numel());
  }
}

std::pair<float*, float*> AdamW::moments_of(const Parameter* p) {
  for (size_t i = 0; i < params_.size(); ++i)
    if (params_[i] == p) return {m_[i].data<float>(), v_[i].data<float>()};
  return {nullptr, nullptr};
}

}  // namespace sadari
