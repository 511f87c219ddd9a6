#include "model/dispatch_wire.h"

namespace sadari {

DispatchWire DispatchWire::for_precision(ComputePrecision p) {
  switch (p) {
    case ComputePrecision::f32: return {};
    case ComputePrecision::bf16: return {WireFormat::bf16, WireFormat::bf16, WireFormat::bf16};
    case ComputePrecision::fp8: return {WireFormat::fp8_e4m3, WireFormat::bf16, WireFormat::bf16};
  }
  return {};
}

}  // namespace sadari
