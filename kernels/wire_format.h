// The formats rows of activations and gradients travel in between ranks (the
// MoE token all-to-all; DeepSeek-V3: FP8 dispatch, BF16 combine and backward),
// and the size of one row's record. The codecs are behind the compute
// interface (ops::encode_rows, decode_rows, round_trip_rows in kernels/ops.h).
//
// Record of one row (wire_row_bytes, always a multiple of 4 so records can
// travel as 32-bit words):
//   f32       D floats.
//   bf16      D bf16 bit patterns (round to nearest even), padded to 4 bytes.
//   fp8_e4m3  D E4M3 codes, padded to 4 bytes, then ceil(D/128) fp32 scales: the
//             row's 1x128 tiles (scale = tile max-abs / 448).
#pragma once

#include <cstdint>
#include <string_view>

namespace sadari {

enum class WireFormat : uint8_t { f32, bf16, fp8_e4m3 };

std::string_view wire_format_name(WireFormat f);

// Bytes of one row's record.
int64_t wire_row_bytes(WireFormat f, int64_t D);

}  // namespace sadari
