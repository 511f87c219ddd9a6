// The AdamW update on the host: n elements of fp32 master weights w, gradient g
// and moments m, v, in place (kernels/adamw_coefficients.h states the rule).
// Element-wise, so any split of the elements over threads or ZeRO-1 shards gives
// the same bits. OpenMP over the elements above 16384 of them.
#pragma once

#include <cstdint>

#include "kernels/adamw_coefficients.h"

namespace sadari::cpu {

// with_decay: the parameter has weight decay (else decay is 1).
void adamw_update(const AdamWCoefficients& c, bool with_decay, float* w, const float* g, float* m,
                  float* v, int64_t n);

}  // namespace sadari::cpu
