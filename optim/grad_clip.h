// Global gradient-norm clipping over every trainable parameter of one store
// (one process; parallel/distributed_optimizer.h does the same over ranks).
// clip_gradients returns the L2 norm before clipping; when max_norm > 0 and the
// norm exceeds it, scales all gradients by max_norm / norm. The sums and the
// scaling are the compute interface's (ops::sum_squares, ops::scale), on `ctx`.
#pragma once

#include "core/parameter.h"
#include "kernels/exec_context.h"

namespace sadari {

double gradient_norm(const ParameterStore& params, const ExecContext& ctx = ExecContext::cpu());
void scale_gradients(ParameterStore& params, double factor,
                     const ExecContext& ctx = ExecContext::cpu());
double clip_gradients(ParameterStore& params, double max_norm,
                      const ExecContext& ctx = ExecContext::cpu());

}  // namespace sadari
