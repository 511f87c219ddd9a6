// AdamW (Loshchilov & Hutter) with decoupled weight decay, over the f32 parameters
// of a ParameterStore, which are the fp32 master weights. Moments m, v are fp32,
// one pair per trainable parameter.
//   p <- p - lr * wd * p            (only for parameters with weight_decay)
//   m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2
//   p <- p - lr * m_hat / (sqrt(v_hat) + eps)
// Parameters with trainable == false (the router bias) are skipped: they are
// updated by aux-loss-free balancing, not by gradient.
// Ownership: keeps pointers to the store's parameters; the store must outlive it.
#pragma once

#include <vector>

#include "core/config.h"
#include "core/parameter.h"

namespace sadari {

class AdamW {
 public:
  AdamW(const OptimConfig& cfg, ParameterStore& params);
  // One update with learning rate lr from the gradients currently in the store.
  void step(double lr);
  int64_t steps_taken() const { return t_; }
  // The moment tensors, named like their parameters (for checkpoints).
  const std::vector<Tensor>& first_moments() const { return m_; }
  const std::vector<Tensor>& second_moments() const { return v_; }

 private:
  OptimConfig cfg_;
  std::vector<Parameter*> params_;
  std::vector<Tensor> m_, v_;
  int64_t t_ = 0;
};

}  // namespace sadari
