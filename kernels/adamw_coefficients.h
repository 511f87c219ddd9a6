// The per-step scalars of one AdamW update (Loshchilov & Hutter, decoupled
// weight decay), computed once per step on the host (optim/adamw.h) and handed
// to the element-wise kernel of every backend (kernels/ops.h adamw_update):
//   m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2
//   w <- w * decay - step_size * m / (sqrt(v) * inv_sqrt_bias2 + eps)
#pragma once

namespace sadari {

struct AdamWCoefficients {
  float b1, b2;
  float step_size;       // lr / (1 - b1^t)
  float inv_sqrt_bias2;  // 1 / sqrt(1 - b2^t)
  float eps;
  float decay;           // 1 - lr * weight_decay: the factor for parameters with decay
};

}  // namespace sadari
