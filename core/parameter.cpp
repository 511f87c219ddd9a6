#include "core/parameter.h"

#include "core/rng.h"

namespace sadari {

namespace {
template <typename T>
void initialise(T* w, int64_t n, Init init, double std, uint64_t seed, uint64_t key) {
  switch (init) {
    case Init::ones:
      for (int64_t i = 0; i < n; ++i) w[i] = T(1);
      break;
    case Init::zeros:
      for (int64_t i = 0; i < n; ++i) w[i] = T(0);
      break;
    case Init::normal:
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < n; ++i) w[i] = static_cast<T>(std * normal(seed, key, i));
      break;
  }
}
}  // namespace

Parameter* ParameterStore::add(const std::string& name, Shape shape, Init init, double std,
                               uint64_t seed, bool weight_decay, bool trainable,
                               int64_t expert_id) {
  if (find(name)) fail("parameter defined twice", "parameter " + name, "this is a model bug");
  auto p = std::make_unique<Parameter>();
  p->name = name;
  p->value = Tensor::zeros(shape, dtype_);
  p->grad = Tensor::zeros(shape, dtype_);
  p->weight_decay = weight_decay;
  p->trainable = trainable;
  p->expert_id = expert_id;
  uint64_t key = stream_key(name);
  if (dtype_ == DType::f32)
    initialise(p->value.data<float>(), p->numel(), init, std, seed, key);
  else if (dtype_ == DType::f64)
    initialise(p->value.data<double>(), p->numel(), init, std, seed, key);
  else
    fail(detail::cat("parameters must be f32 or f64, not ", dtype_name(dtype_)), "parameter " + name);
  params_.push_back(std::move(p));
  return params_.back().get();
}

Parameter* ParameterStore::find(const std::string& name) const {
  for (const auto& p : params_)
    if (p->name == name) return p.get();
  return nullptr;
}

int64_t ParameterStore::numel() const {
  int64_t n = 0;
  for (const auto& p : params_) n += p->numel();
  return n;
}

void ParameterStore::zero_grad() {
  for (const auto& p : params_) p->grad.fill_zero();
}

}  // namespace sadari
