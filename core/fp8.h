// FP8 codecs: E4M3 (the "fn" variant) and E5M2, bit-level encode and decode.
//
// Formats (sign | exponent | mantissa, value = (-1)^s 2^(e-bias) 1.m, e = 0 subnormal
// = (-1)^s 2^(1-bias) 0.m):
//   E4M3fn: 1|4|3, bias 7. No infinity; 0x7F and 0xFF are NaN, so S.1111.111 is
//           not a number and the largest finite value is S.1111.110 = 448.
//           Smallest subnormal 2^-9, smallest normal 2^-6.
//   E5M2:   1|5|2, bias 15, IEEE-like: exponent 31 with mantissa 0 is +-infinity
//           (0x7C, 0xFC), with mantissa != 0 NaN. Largest finite 57344 = 0x7B.
//           Smallest subnormal 2^-16, smallest normal 2^-14.
//
// Encoding (fp8_encode) rounds to nearest, ties to even, subnormals included
// (magnitudes up to half the smallest subnormal become a signed zero). Values whose
// rounded magnitude exceeds the largest finite value ("overflow"; this includes
// +-infinity) become:
//   Fp8Saturation::satfinite  the largest finite value with the input's sign;
//   Fp8Saturation::nosat      E4M3: NaN (0x7F | sign: the format has no infinity);
//                             E5M2: +-infinity.
// NaN input gives the canonical NaN 0x7F in both formats (sign and payload
// dropped). This is bit for bit what NVIDIA's __nv_cvt_float_to_fp8 does: checked
// for all 2^32 floats, both formats and modes, when this was written, and by
// tests/kernels/fp8_codec_test.cpp on every special value, every midpoint and
// random floats whenever the CUDA toolkit's <cuda_fp8.h> is present.
// Rounding thresholds, for the record:
// E4M3 rounds magnitudes above 464 up to overflow (464 itself ties to 448);
// E5M2 rounds magnitudes from 61440 on to overflow (61440 ties to the odd
// mantissa 57344's even neighbour, infinity).
//
// Encoding is bit manipulation (no table search), branch-free apart from selects,
// so the compiler vectorises it on the host and it runs unchanged on the device;
// one float addition rounds the subnormal range (see encode below).
// Decoding (fp8_decode) is exact (every FP8 value is a float). On the host,
// fp8_decode_table() gives the 256 decoded values of a format for table lookups.
//
// Everything here is a pure function usable from host and device code: compiled by
// nvcc the functions are __host__ __device__ (SADARI_HD). Thread-safety: reentrant.
#pragma once

#include <bit>
#include <cstdint>

#if defined(__CUDACC__)
#define SADARI_HD __host__ __device__
#else
#define SADARI_HD
#endif

namespace sadari {

enum class Fp8Format : uint8_t { e4m3, e5m2 };
enum class Fp8Saturation : uint8_t { satfinite, nosat };

// Largest finite values (the quantisation scale maps a tile's max-abs onto these).
inline constexpr float kFp8E4M3Max = 448.0f;
inline constexpr float kFp8E5M2Max = 57344.0f;

SADARI_HD constexpr float fp8_max(Fp8Format f) {
  return f == Fp8Format::e4m3 ? kFp8E4M3Max : kFp8E5M2Max;
}

namespace fp8_detail {

SADARI_HD inline uint32_t float_bits(float x) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(x);
#else
  return std::bit_cast<uint32_t>(x);
#endif
}

SADARI_HD inline float bits_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  return std::bit_cast<float>(u);
#endif
}

// Round-to-nearest-even of v / 2^shift for 1 <= shift <= 31 and v < 2^31: adding
// half - 1 rounds every remainder above half up, and the result's low bit breaks
// exact ties towards even. (Plain arithmetic so that it vectorises.)
SADARI_HD inline uint32_t shift_rne(uint32_t v, uint32_t shift) {
  return (v + ((1u << (shift - 1u)) - 1u) + ((v >> shift) & 1u)) >> shift;
}

// Encoder for a format with M mantissa bits and exponent bias B; max_code is the
// code of the largest finite value, over_code the code for a nosat overflow.
template <uint32_t M, uint32_t B, uint32_t max_code, uint32_t over_code>
SADARI_HD inline uint8_t encode(float x, Fp8Saturation sat) {
  const uint32_t u = float_bits(x);
  const uint32_t sign = (u >> 24) & 0x80u;
  const uint32_t a = u & 0x7fffffffu;
  const uint32_t e = a >> 23;  // biased float exponent; 0 for zero and subnormals

  // Normal range of the target (|x| >= 2^(1-B)): move the exponent to the target
  // bias, then round the 23-bit mantissa to M bits (a carry correctly bumps the
  // exponent). Computed for every input; selected below.
  const uint32_t rebias = a - ((127u - B) << 23);
  const uint32_t normal = shift_rne(rebias, 23u - M);

  // Subnormal range of the target (|x| < 2^(1-B)): adding C = 2^(24-B-M), whose
  // float ulp is the target's smallest subnormal 2^(1-B-M), makes the FPU round
  // |x| to a multiple of it, to nearest even, in one correctly rounded addition
  // (|x| + C stays in C's binade); the low bits are then the code (2^M when it
  // rounds up to the smallest normal, which is that normal's code). Needs the
  // default rounding mode (round to nearest even), as on host and device; with
  // flush-to-zero a float-subnormal |x| reads as 0, the right result anyway.
  const float magic = bits_float((127u + 24u - B - M) << 23);
  const uint32_t sub = float_bits(bits_float(a) + magic) - float_bits(magic);

  // Selects are masks, not ?:, wherever a choice could make the float addition's
  // result unused: GCC then keeps the addition under a branch (it will not
  // if-convert a possibly trapping operation) and does not vectorise the loop.
  const uint32_t is_sub = 0u - uint32_t(e < 128u - B);
  uint32_t code = (sub & is_sub) | (normal & ~is_sub);
  const uint32_t overflow_code = sat == Fp8Saturation::satfinite ? max_code : over_code;
  const uint32_t is_over = 0u - uint32_t(code > max_code);
  code = (overflow_code & is_over) | (code & ~is_over);
  code |= sign;
  const uint32_t is_nan = 0u - uint32_t(a > 0x7f800000u);
  code = (0x7Fu & is_nan) | (code & ~is_nan);  // canonical NaN
  return static_cast<uint8_t>(code);
}

}  // namespace fp8_detail

// float -> E4M3fn code (see the header comment for rounding and overflow).
SADARI_HD inline uint8_t fp8_e4m3_encode(float x,
                                         Fp8Saturation sat = Fp8Saturation::satfinite) {
  return fp8_detail::encode<3, 7, 0x7Eu, 0x7Fu>(x, sat);
}

// float -> E5M2 code (see the header comment for rounding and overflow).
SADARI_HD inline uint8_t fp8_e5m2_encode(float x,
                                         Fp8Saturation sat = Fp8Saturation::satfinite) {
  return fp8_detail::encode<2, 15, 0x7Bu, 0x7Cu>(x, sat);
}

SADARI_HD inline uint8_t fp8_encode(float x, Fp8Format f,
                                    Fp8Saturation sat = Fp8Saturation::satfinite) {
  return f == Fp8Format::e4m3 ? fp8_e4m3_encode(x, sat) : fp8_e5m2_encode(x, sat);
}

// E4M3fn code -> float (exact). 0x7F / 0xFF give a quiet NaN with that sign.
SADARI_HD inline float fp8_e4m3_decode(uint8_t c) {
  const uint32_t sign = uint32_t(c & 0x80u) << 24;
  const uint32_t e = (c >> 3) & 0xFu, m = c & 7u;
  if ((c & 0x7Fu) == 0x7Fu) return fp8_detail::bits_float(sign | 0x7fc00000u);
  if (e == 0)  // subnormal: m * 2^-9, exact in float
    return fp8_detail::bits_float(sign | fp8_detail::float_bits(float(m) * 0x1p-9f));
  return fp8_detail::bits_float(sign | ((e + 120u) << 23) | (m << 20));
}

// E5M2 code -> float (exact). Exponent 31: infinity (m = 0) or a quiet NaN.
SADARI_HD inline float fp8_e5m2_decode(uint8_t c) {
  const uint32_t sign = uint32_t(c & 0x80u) << 24;
  const uint32_t e = (c >> 2) & 0x1Fu, m = c & 3u;
  if (e == 31) return fp8_detail::bits_float(sign | (m == 0 ? 0x7f800000u : 0x7fc00000u | (m << 21)));
  if (e == 0)  // subnormal: m * 2^-16
    return fp8_detail::bits_float(sign | fp8_detail::float_bits(float(m) * 0x1p-16f));
  return fp8_detail::bits_float(sign | ((e + 112u) << 23) | (m << 21));
}

SADARI_HD inline float fp8_decode(uint8_t c, Fp8Format f) {
  return f == Fp8Format::e4m3 ? fp8_e4m3_decode(c) : fp8_e5m2_decode(c);
}

// The fp32 scale of a quantisation tile from its max-abs (finite, >= 0), shared by
// the CPU quantiser and the CUDA kernels so both pick the same scales:
//   amax == 0           -> 1 (an all-zero tile; any scale would do);
//   otherwise           -> amax / fp8_max(f), at least 2^-126 (the smallest normal
//                          float, so that 1/scale and x/scale stay finite; a tile
//                          whose max-abs is below fp8_max * 2^-126 is then stored
//                          with less precision, it is noise at fp32 scale anyway);
//   pow2                -> rounded UP to a power of two, so that x / scale still
//                          never exceeds fp8_max and decode(q) * scale is exact.
SADARI_HD inline float fp8_scale_from_amax(float amax, Fp8Format f, bool pow2) {
  if (amax == 0.0f) return 1.0f;
  float s = amax / fp8_max(f);
  s = s < 0x1p-126f ? 0x1p-126f : s;
  if (pow2) {
    const uint32_t u = fp8_detail::float_bits(s);
    // A normal float with a non-zero mantissa: next exponent, mantissa cleared.
    if (u & 0x7fffffu) s = fp8_detail::bits_float((u & 0x7f800000u) + 0x800000u);
  }
  return s;
}

#if !defined(__CUDA_ARCH__)
// Host only: the 256 decoded values of a format, indexed by code (built once,
// thread-safe static initialisation).
inline const float* fp8_decode_table(Fp8Format f) {
  struct Tables {
    float e4m3[256], e5m2[256];
    Tables() {
      for (int c = 0; c < 256; ++c) {
        e4m3[c] = fp8_e4m3_decode(uint8_t(c));
        e5m2[c] = fp8_e5m2_decode(uint8_t(c));
      }
    }
  };
  static const Tables tables;
  return f == Fp8Format::e4m3 ? tables.e4m3 : tables.e5m2;
}
#endif

}  // namespace sadari
