// bfloat16 emulation on the host: storage is the upper 16 bits of an IEEE float,
// rounded to nearest even (as GPUs do), NaN kept quiet. Pure functions.
#pragma once

#include <cstdint>
#include <cstring>

namespace sadari {

inline uint16_t f32_to_bf16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0)
    return static_cast<uint16_t>((bits >> 16) | 0x0040u);  // quiet NaN, sign kept
  uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);       // ties to even
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

inline float bf16_to_f32(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float x;
  std::memcpy(&x, &bits, 4);
  return x;
}

// The float that bf16 storage would hold for x.
inline float round_to_bf16(float x) { return bf16_to_f32(f32_to_bf16(x)); }

}  // namespace sadari
