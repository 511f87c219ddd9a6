#include "optim/adamw.h"

#include <cmath>

#include "kernels/ops.h"

namespace sadari {

AdamWCoefficients adamw_coefficients(const OptimConfig& cfg, double lr, int64_t t) {
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

AdamW::AdamW(const OptimConfig& cfg, ParameterStore& params, const ExecContext& ctx)
    : cfg_(cfg), ctx_(ctx) {
  SADARI_CHECK(params.dtype() == DType::f32, "AdamW needs f32 master weights, got ",
               dtype_name(params.dtype()));
  for (const auto& p : params.all()) {
    if (!p->trainable) continue;
    params_.push_back(p.get());
    m_.push_back(Tensor::zeros(p->value.shape(), DType::f32, ctx_.device));
    v_.push_back(Tensor::zeros(p->value.shape(), DType::f32, ctx_.device));
  }
}

void AdamW::step(double lr) {
  ++t_;
  const AdamWCoefficients c = adamw_coefficients(cfg_, lr, t_);
  for (size_t i = 0; i < params_.size(); ++i) {
    const Parameter* p = params_[i];
    ops::adamw_update(ctx_, c, p->weight_decay, p->value, p->grad, m_[i], v_[i]);
  }
}

std::pair<float*, float*> AdamW::moments_of(const Parameter* p) {
  for (size_t i = 0; i < params_.size(); ++i)
    if (params_[i] == p) return {m_[i].data<float>(), v_[i].data<float>()};
  return {nullptr, nullptr};
}

}  // namespace sadari
