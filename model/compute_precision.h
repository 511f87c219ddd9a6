// The arithmetic of the model's linear layers (train.precision), one knob for the
// whole model:
//   f32   the reference: every GEMM in fp32 (OpenBLAS sgemm).
//   bf16  mixed precision as on a GPU, emulated on the host: both operands of
//         every Fprop, Dgrad and Wgrad GEMM of the attention projections, the
//         dense FFN and the experts are rounded to bf16 (round to nearest even),
//         products accumulated in fp32, fp32 outputs. Expert dispatch and combine
//         move bf16 rows (model/dispatch_wire.h).
//   fp8   DeepSeek-V3's recipe: those GEMMs in FP8 E4M3 with 1x128 activation
//         tiles and 128x128 weight blocks (kernels/cpu/fp8_linear.h); dispatch
//         sends FP8 rows with their scales, combine and the backward transfers bf16.
// In every mode the embedding, the output head, the router, the norms and the
// attention math (softmax, scores) stay fp32, as do master weights, gradients and
// optimizer state. Non-f32 modes exist for float models only (the double
// instantiation is for finite-difference checks).
#pragma once

#include <string>
#include <string_view>
#include "kernels/exec_context.h"

namespace sadari {

enum class ComputePrecision { f32, bf16, fp8 };

// "f32" | "bf16" | "fp8"; throws Error naming `where` and the accepted values.
ComputePrecision parse_compute_precision(std::string_view name, const std::string& where = {});
std::string_view compute_precision_name(ComputePrecision p);

// What a linear layer needs to know besides its buffers: how to multiply and
// the weight's name (for error messages: a non-finite activation in an FP8
// quantisation names the tensor it belongs to).
struct LinearNumerics {
  ComputePrecision precision = ComputePrecision::f32;
  std::string_view weight_name;  // e.g. "blocks.3.attn.wq"; borrowed
  ExecContext ctx;               // where the products run (kernels/ops.h)
};

}  // namespace sadari
