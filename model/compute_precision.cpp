#include "model/compute_precision.h"

#include "core/error.h"

namespace sadari {

ComputePrecision parse_compute_precision(std::string_view name, const std::string& where) {
  if (name == "f32") return ComputePrecision::f32;
  if (name == "bf16") return ComputePrecision::bf16;
  if (name == "fp8") return ComputePrecision::fp8;
  fail(detail::cat("unknown precision '", name, "'"), where, "use f32, bf16 or fp8");
}

std::string_view compute_precision_name(ComputePrecision p) {
  switch (p) {
    case ComputePrecision::f32: return "f32";
    case ComputePrecision::bf16: return "bf16";
    case ComputePrecision::fp8: return "fp8";
  }
  return "?";
}

}  // namespace sadari
