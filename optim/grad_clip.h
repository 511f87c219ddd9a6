// Global gradient-norm clipping over every trainable parameter.
// Returns the L2 norm before clipping; when max_norm > 0 and the norm exceeds it,
// scales all gradients by max_norm / norm. (The data-parallel runtime computes the
// norm over ranks and passes it to clip_gradients_to.)
#pragma once

#include "core/parameter.h"

namespace sadari {

double gradient_norm(const ParameterStore& params);
void scale_gradients(ParameterStore& params, double factor);
double clip_gradients(ParameterStore& params, double max_norm);

}  // namespace sadari
