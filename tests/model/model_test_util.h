// Helpers shared by the model tests: reproducible random buffers and the
// collection of every trainable parameter of a store as gradient-check targets.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/parameter.h"
#include "core/rng.h"
#include "tests/model/grad_check.h"

namespace sadari {

template <typename T>
std::vector<T> random_vec(int64_t n, uint64_t seed, double scale) {
  std::vector<T> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    v[i] = static_cast<T>(scale * normal(seed, stream_key("model_test"), i));
  return v;
}

// Copies out the analytic gradient of every trainable parameter (into `grads`,
// which must outlive the targets) and returns one target per parameter.
inline std::vector<GradTarget> param_targets(const ParameterStore& ps,
                                             std::vector<std::vector<double>>& grads) {
  std::vector<GradTarget> t;
  grads.clear();
  grads.reserve(ps.all().size());
  for (const auto& p : ps.all()) {
    if (!p->trainable) continue;
    const double* g = p->g<double>();
    grads.emplace_back(g, g + p->numel());
    t.push_back({p->w<double>(), p->numel(), grads.back().data(), p->name});
  }
  return t;
}

}  // namespace sadari
