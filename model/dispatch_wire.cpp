#include "model/dispatch_wire.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/bf16.h"
#include "core/error.h"
#include "kernels/cpu/fp8_quantize.h"

namespace sadari {

namespace {

int64_t padded4(int64_t bytes) { return (bytes + 3) / 4 * 4; }

// Rows are independent: one OpenMP iteration per row (the FP8 quantiser runs
// serially inside the region).
constexpr int64_t kParallelMinValues = 1 << 14;

void encode_fp8_row(const float* row, int64_t D, uint8_t* rec, std::string_view name) {
  const int64_t tiles = cpu::fp8_tiles(D);
  float scales[64];
  std::vector<float> big;
  float* s = scales;
  if (tiles > 64) {
    big.resize(static_cast<size_t>(tiles));
    s = big.data();
  }
  cpu::fp8_quantize_tiles(row, 1, D, D, rec, s, cpu::Fp8QuantizeOptions{}, name);
  std::memcpy(rec + padded4(D), s, sizeof(float) * tiles);
}

void decode_fp8_row(const uint8_t* rec, int64_t D, float* row) {
  const int64_t tiles = cpu::fp8_tiles(D);
  for (int64_t t = 0; t < tiles; ++t) {
    float scale;
    std::memcpy(&scale, rec + padded4(D) + 4 * t, sizeof(float));
    const int64_t end = std::min(D, (t + 1) * cpu::kFp8Tile);
    for (int64_t c = t * cpu::kFp8Tile; c < end; ++c)
      row[c] = fp8_decode(rec[c], Fp8Format::e4m3) * scale;
  }
}

// FP8 cannot carry NaN or infinity: report the first such value (row-major, so
// the message does not depend on threads) before any parallel region, where an
// exception could not propagate.
void check_finite_for_fp8(const float* rows, int64_t n, int64_t D, std::string_view name) {
  bool bad = false;
#pragma omp parallel for reduction(|| : bad) schedule(static) if (n * D >= kParallelMinValues)
  for (int64_t i = 0; i < n * D; ++i) bad = bad || !std::isfinite(rows[i]);
  if (!bad) return;
  for (int64_t i = 0; i < n * D; ++i)
    if (!std::isfinite(rows[i]))
      fail(detail::cat("non-finite value ", rows[i], " in row ", i / D, ", column ", i % D,
                       " cannot be sent as FP8"),
           detail::cat("tensor ", name),
           "the activations overflowed or became NaN upstream: lower the learning rate, or "
           "run with train.precision=f32 to find the first bad step");
}

}  // namespace

std::string_view wire_format_name(WireFormat f) {
  switch (f) {
    case WireFormat::f32: return "f32";
    case WireFormat::bf16: return "bf16";
    case WireFormat::fp8_e4m3: return "fp8_e4m3";
  }
  return "?";
}

DispatchWire DispatchWire::for_precision(ComputePrecision p) {
  switch (p) {
    case ComputePrecision::f32: return {};
    case ComputePrecision::bf16: return {WireFormat::bf16, WireFormat::bf16, WireFormat::bf16};
    case ComputePrecision::fp8: return {WireFormat::fp8_e4m3, WireFormat::bf16, WireFormat::bf16};
  }
  return {};
}

int64_t wire_row_bytes(WireFormat f, int64_t D) {
  switch (f) {
    case WireFormat::f32: return 4 * D;
    case WireFormat::bf16: return padded4(2 * D);
    case WireFormat::fp8_e4m3: return padded4(D) + 4 * cpu::fp8_tiles(D);
  }
  return 0;
}

void encode_rows(WireFormat f, const float* rows, int64_t n, int64_t D, uint8_t* out,
                 std::string_view name) {
  if (f == WireFormat::fp8_e4m3) check_finite_for_fp8(rows, n, D, name);
  const int64_t bytes = wire_row_bytes(f, D);
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
      case WireFormat::fp8_e4m3: encode_fp8_row(row, D, rec, name); break;
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
  if (f == WireFormat::f32) {
    if (out != in) std::memcpy(out, in, sizeof(float) * n * D);
    return;
  }
  if (f == WireFormat::fp8_e4m3) check_finite_for_fp8(in, n, D, name);
  const int64_t bytes = wire_row_bytes(f, D);
#pragma omp parallel if (n * D >= kParallelMinValues)
  {
    std::vector<uint8_t> rec(static_cast<size_t>(bytes));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < n; ++r) {
      encode_rows(f, in + r * D, 1, D, rec.data(), name);
      decode_rows(f, rec.data(), 1, D, out + r * D);
    }
  }
}

}  // namespace sadari
