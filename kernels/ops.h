// The compute interface: every kernel that model/, optim/ and parallel/ run goes
// through a function here, with an execution context (kernels/exec_context.h)
// that says on which device and with what. The CPU backend (kernels/cpu/) is
// the reference: each function forwards to its cpu:: kernel; a device backend
// adds its own kernel behind the same function and passes the same conformance
// tests (tests/kernels/ops_conformance_test.cpp runs them for every context it
// is given).
//
// Contracts common to every function:
//   - Tensors are dense; "n elements" means Tensor::numel(). Inputs and outputs
//     must all live on ctx.device, else Error naming the operation, the tensor
//     and both devices (no function copies between devices).
//   - Shapes and dtypes are checked up front, with the tensor's name in the error.
//   - Results are the same for any thread count.
//   - Scalars that come back (sums) are on the host; a device backend
//     synchronises for them, and says so here.
//
// Migration note: the optimizer's kernels are behind this interface; the layers'
// kernels (GEMM, norms, attention, routing, dispatch) still call kernels/cpu/
// directly from model/ and parallel/ and move here next (tests/layering lists
// the files that still do).
#pragma once

#include "core/tensor.h"
#include "kernels/adamw_coefficients.h"
#include "kernels/exec_context.h"

namespace sadari::ops {

// AdamW, in place: w (fp32 master weights), m, v (fp32 moments) from g (fp32
// gradient), element-wise by the coefficients of this step. with_decay: the
// parameter has weight decay. REQUIRES all four f32 with the same numel.
void adamw_update(const ExecContext& ctx, const AdamWCoefficients& c, bool with_decay,
                  const Tensor& w, const Tensor& g, const Tensor& m, const Tensor& v);

// sum of x^2, accumulated in double in element order (f32 or f64 x). Host result.
double sum_squares(const ExecContext& ctx, const Tensor& x);

// x *= factor, in place (f32: the factor rounded to float first; f64).
void scale(const ExecContext& ctx, const Tensor& x, double factor);

}  // namespace sadari::ops
