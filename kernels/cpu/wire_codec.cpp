#include "kernels/cpu/wire_codec.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/bf16.h"
#include "core/error.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/fp8_quantize.h"

namespace sadari::cpu {

namespace {

int64_t padded4(int64_t bytes) { return (bytes + 3) / 4 * 4; }

// Rows are independent: one OpenMP region over all rows per call (never one per
// row: a region costs about a microsecond even with one thread).
constexpr int64_t kParallelMinValues = 1 << 14;

// Codes and scales of a whole block of rows, quantised by the FP8 kernel in one
// call (its 1x128 tiles along each row are exactly the records' tiles). Per
// thread, kept between calls.
struct Fp8Scratch {
  std::vector<uint8_t> q;
  std::vector<float> scales;
};

Fp8Scratch& quantised_rows(const float* rows, int64_t n, int64_t D, std::string_view name) {
  thread_local Fp8Scratch s;
  s.q.resize(static_cast<size_t>(n * D));
  s.scales.resize(static_cast<size_t>(n * fp8_tiles(D)));
  // Throws, naming `name` and the element, for a NaN or infinity: FP8 has neither.
  fp8_quantize_tiles(rows, n, D, D, s.q.data(), s.scales.data(), Fp8QuantizeOptions{},
                          name);
  return s;
}

void decode_fp8_row(const uint8_t* rec, int64_t D, float* row) {
  const int64_t tiles = fp8_tiles(D);
  for (int64_t t = 0; t < tiles; ++t) {
    float scale;
    std::memcpy(&scale, rec + padded4(D) + 4 * t, sizeof(float));
    const int64_t end = std::min(D, (t + 1) * kFp8Tile);
    for (int64_t c = t * kFp8Tile; c < end; ++c)
      row[c] = fp8_decode(rec[c], Fp8Format::e4m3) * scale;
  }
}

}  // namespace

void encode_rows(WireFormat f, const float* rows, int64_t n, int64_t D, uint8_t* out,
                 std::string_view name) {
  const int64_t bytes = wire_row_bytes(f, D), tiles = fp8_tiles(D);
  const Fp8Scratch* fp8 = f == WireFormat::fp8_e4m3 ? &quantised_rows(rows, n, D, name) : nullptr;
#pragma omp parallel for schedule(static) if (n * D >= kParallelMinValues)
  for (int64_t r = 0; r < n; ++r) {
    const float* row = rows + r * D;
    uint8_t* rec = out + r * bytes;
    switch (f) {
      case WireFormat::f32: std::memcpy(rec, row, sizeof(float) * D); break;
      case WireFormat::bf16:
        for (int64_t c = 0; c < D; ++c) {
          const uint16_t b = f32_to_bf16(row[c]);
          std::memcpy(rec + 2 * c, &b, 2);
        }
        break;
      case WireFormat::fp8_e4m3:
        std::memcpy(rec, fp8->q.data() + r * D, static_cast<size_t>(D));
        std::memcpy(rec + padded4(D), fp8->scales.data() + r * tiles, sizeof(float) * tiles);
        break;
    }
  }
}

void decode_rows(WireFormat f, const uint8_t* in, int64_t n, int64_t D, float* rows) {
  const int64_t bytes = wire_row_bytes(f, D);
#pragma omp parallel for schedule(static) if (n * D >= kParallelMinValues)
  for (int64_t r = 0; r < n; ++r) {
    float* row = rows + r * D;
    const uint8_t* rec = in + r * bytes;
    switch (f) {
      case WireFormat::f32: std::memcpy(row, rec, sizeof(float) * D); break;
      case WireFormat::bf16:
        for (int64_t c = 0; c < D; ++c) {
          uint16_t b;
          std::memcpy(&b, rec + 2 * c, 2);
          row[c] = bf16_to_f32(b);
        }
        break;
      case WireFormat::fp8_e4m3: decode_fp8_row(rec, D, row); break;
    }
  }
}

void round_trip_rows(WireFormat f, const float* in, int64_t n, int64_t D, float* out,
                     std::string_view name) {
  switch (f) {
    case WireFormat::f32:
      if (out != in) std::memcpy(out, in, sizeof(float) * n * D);
      return;
    case WireFormat::bf16:
      round_to_bf16(in, out, n * D);
      return;
    case WireFormat::fp8_e4m3: {
      const Fp8Scratch& q = quantised_rows(in, n, D, name);
      const Fp8View v{q.q.data(), q.scales.data(), n, D, Fp8Format::e4m3,
                           Fp8Tiling::tiles_1x128, name};
      fp8_dequantize(v, out, D);
      return;
    }
  }
}

}  // namespace sadari::cpu
