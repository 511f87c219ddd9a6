// What the MoE token dispatcher's rows travel as (DeepSeek-V3: the dispatch sends
// FP8 activations with their 1x128 scales, the combine returns BF16; backward
// transfers BF16), and the row codecs that pack and unpack them.
//
// The model's arithmetic must not depend on where an expert runs: the local
// dispatcher applies the same encode/decode to its rows as the expert-parallel
// one puts on the wire (model/token_dispatcher.h, parallel/expert_parallel_dispatcher.h),
// so one process and any ep layout compute on identical values. Codecs work row
// by row (a row = one token's D values), so the result never depends on how rows
// are grouped or ordered.
//
// Record of one row on the wire (wire_row_bytes, always a multiple of 4 so the
// records can travel as 32-bit words):
//   f32       D floats.
//   bf16      D bf16 bit patterns (round to nearest even), padded to 4 bytes.
//   fp8_e4m3  D E4M3 codes, padded to 4 bytes, then ceil(D/128) fp32 scales: the
//             row's 1x128 tiles, quantised as kernels/cpu/fp8_quantize.h does
//             (scale = tile max-abs / 448).
// Errors: encoding a non-finite value in fp8 throws Error naming `name` and the
// element. Threads: OpenMP over rows; results do not depend on the thread count.
#pragma once

#include <cstdint>
#include <string_view>

#include "model/compute_precision.h"

namespace sadari {

enum class WireFormat : uint8_t { f32, bf16, fp8_e4m3 };

std::string_view wire_format_name(WireFormat f);

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

// Bytes of one row's record.
int64_t wire_row_bytes(WireFormat f, int64_t D);

// rows [n, D] -> n records (n * wire_row_bytes bytes at out).
void encode_rows(WireFormat f, const float* rows, int64_t n, int64_t D, uint8_t* out,
                 std::string_view name);
// n records -> rows [n, D].
void decode_rows(WireFormat f, const uint8_t* in, int64_t n, int64_t D, float* rows);
// out = decode(encode(in)) without the byte buffer; out may equal in.
void round_trip_rows(WireFormat f, const float* in, int64_t n, int64_t D, float* out,
                     std::string_view name);

}  // namespace sadari
