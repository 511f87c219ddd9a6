// What the MoE token dispatcher's rows travel as, per direction (DeepSeek-V3:
// the dispatch sends FP8 activations with their 1x128 scales, the combine
// returns BF16; backward transfers BF16). The formats and their codecs are the
// kernels' (kernels/wire_format.h, ops::encode_rows / decode_rows /
// round_trip_rows): the local dispatcher applies the same round trip to its rows
// as the expert-parallel one puts on the wire (model/token_dispatcher.h,
// parallel/expert_parallel_dispatcher.h), so one process and any ep layout
// compute on identical values.
#pragma once

#include <cstdint>
#include <string_view>

#include "kernels/wire_format.h"
#include "model/compute_precision.h"

namespace sadari {

struct DispatchWire {
  WireFormat dispatch = WireFormat::f32;  // forward: token rows to the experts
  WireFormat combine = WireFormat::f32;   // forward: expert outputs back
  WireFormat backward = WireFormat::f32;  // both backward transfers

  // f32 -> all f32; bf16 -> all bf16; fp8 -> fp8 dispatch, bf16 otherwise.
  static DispatchWire for_precision(ComputePrecision p);
  bool exact() const {
    return dispatch == WireFormat::f32 && combine == WireFormat::f32 &&
           backward == WireFormat::f32;
  }
};

}  // namespace sadari
