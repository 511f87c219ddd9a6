#include "kernels/wire_format.h"

#include "kernels/cpu/fp8_quantize.h"

namespace sadari {

namespace {
int64_t padded4(int64_t bytes) { return (bytes + 3) / 4 * 4; }
}  // namespace

std::string_view wire_format_name(WireFormat f) {
  switch (f) {
    case WireFormat::f32: return "f32";
    case WireFormat::bf16: return "bf16";
    case WireFormat::fp8_e4m3: return "fp8_e4m3";
  }
  return "?";
}

int64_t wire_row_bytes(WireFormat f, int64_t D) {
  switch (f) {
    case WireFormat::f32: return 4 * D;
    case WireFormat::bf16: return padded4(2 * D);
    case WireFormat::fp8_e4m3: return padded4(D) + 4 * cpu::fp8_tiles(D);
  }
  return 0;
}

}  // namespace sadari
