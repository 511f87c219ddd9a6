// The row codecs of the wire formats (kernels/wire_format.h) on the host.
//
// The model's arithmetic must not depend on where an expert runs: the local
// dispatcher applies the same encode/decode to its rows as the expert-parallel
// one puts on the wire, so one process and any ep layout compute on identical
// values. Codecs work row by row (a row = one token's D values), so the result
// never depends on how rows are grouped or ordered.
// Errors: encoding a non-finite value in fp8 throws Error naming `name` and the
// element. Threads: OpenMP over rows; results do not depend on the thread count.
#pragma once

#include <cstdint>
#include <string_view>

#include "kernels/wire_format.h"

namespace sadari::cpu {

// rows [n, D] -> n records (n * wire_row_bytes bytes at out).
void encode_rows(WireFormat f, const float* rows, int64_t n, int64_t D, uint8_t* out,
                 std::string_view name);
// n records -> rows [n, D].
void decode_rows(WireFormat f, const uint8_t* in, int64_t n, int64_t D, float* rows);
// out = decode(encode(in)) without the byte buffer; out may equal in.
void round_trip_rows(WireFormat f, const float* in, int64_t n, int64_t D, float* out,
                     std::string_view name);

}  // namespace sadari::cpu
