// AdamW (Loshchilov & Hutter) with decoupled weight decay, over the f32 parameters
// of a ParameterStore, which are the fp32 master weights. Moments m, v are fp32,
// one pair per trainable parameter.
//   p <- p - lr * wd * p            (only for parameters with weight_decay)
//   m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2
//   p <- p - lr * m_hat / (sqrt(v_hat) + eps)
// Parameters with trainable == false (the router bias) are skipped: they are
// updated by aux-loss-free balancing, not by gradient.
//
// The element-wise rule is one kernel behind the compute interface
// (ops::adamw_update, kernels/ops.h), shared with the sharded optimizer
// (optim/zero1_adamw.h), so a ZeRO-1 step is bit-identical to this one on the
// same gradients: AdamW is element-wise, sharding only decides who computes which
// element. The moments are Tensors on the context's device.
// Ownership: keeps pointers to the store's parameters; the store must outlive it.
#pragma once

#include <utility>
#include <vector>

#include "core/config.h"
#include "core/parameter.h"
#include "kernels/adamw_coefficients.h"
#include "kernels/exec_context.h"

namespace sadari {

// The per-step scalars of one AdamW update (step t >= 1, learning rate lr).
AdamWCoefficients adamw_coefficients(const OptimConfig& cfg, double lr, int64_t t);

class AdamW {
 public:
  // ctx: where the parameters, gradients and moments live and the update runs.
  AdamW(const OptimConfig& cfg, ParameterStore& params,
        const ExecContext& ctx = ExecContext::cpu());
  // One update with learning rate lr from the gradients currently in the store.
  void step(double lr);
  int64_t steps_taken() const { return t_; }
  // After loading moments from a checkpoint: the updates already done.
  void restore_steps(int64_t t) { t_ = t; }
  // The moment tensors, named like their parameters (for checkpoints).
  const std::vector<Tensor>& first_moments() const { return m_; }
  const std::vector<Tensor>& second_moments() const { return v_; }
  // Parameter p's moments (p->numel() floats each), so optimizer state can move
  // with a parameter (parallel/expert_migration.h); {nullptr, nullptr} when p is
  // not one of this optimizer's parameters.
  std::pair<float*, float*> moments_of(const Parameter* p);

 private:
  OptimConfig cfg_;
  ExecContext ctx_;
  std::vector<Parameter*> params_;
  std::vector<Tensor> m_, v_;
  int64_t t_ = 0;
};

}  // namespace sadari
