// FP8 codecs (core/fp8.h): exhaustive round trips over all 256 codes, rounding at
// every midpoint between neighbouring values, special values, the scale rule, and
// bit-for-bit agreement with NVIDIA's host conversions in <cuda_fp8.h> (compiled
// only when the CUDA toolkit's headers were found; skipped otherwise).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "core/fp8.h"

#if defined(SADARI_HAVE_CUDA_FP8_H)
#include <cuda_fp8.h>
#endif

namespace sadari {
namespace {

constexpr Fp8Format kFormats[] = {Fp8Format::e4m3, Fp8Format::e5m2};
constexpr Fp8Saturation kSats[] = {Fp8Saturation::satfinite, Fp8Saturation::nosat};

bool is_nan_code(uint8_t c, Fp8Format f) {
  return f == Fp8Format::e4m3 ? (c & 0x7F) == 0x7F : (c & 0x7C) == 0x7C && (c & 3) != 0;
}
bool is_inf_code(uint8_t c, Fp8Format f) { return f == Fp8Format::e5m2 && (c & 0x7F) == 0x7C; }

TEST(Fp8Codec, KnownValues) {
  EXPECT_EQ(fp8_e4m3_decode(0x38), 1.0f);
  EXPECT_EQ(fp8_e4m3_decode(0x7E), 448.0f);
  EXPECT_EQ(fp8_e4m3_decode(0xFE), -448.0f);
  EXPECT_EQ(fp8_e4m3_decode(0x01), 0x1p-9f);  // smallest subnormal
  EXPECT_EQ(fp8_e4m3_decode(0x07), 7 * 0x1p-9f);
  EXPECT_EQ(fp8_e4m3_decode(0x08), 0x1p-6f);  // smallest normal
  EXPECT_TRUE(std::isnan(fp8_e4m3_decode(0x7F)));
  EXPECT_TRUE(std::isnan(fp8_e4m3_decode(0xFF)));
  EXPECT_EQ(fp8_e5m2_decode(0x3C), 1.0f);
  EXPECT_EQ(fp8_e5m2_decode(0x7B), 57344.0f);
  EXPECT_EQ(fp8_e5m2_decode(0x01), 0x1p-16f);
  EXPECT_EQ(fp8_e5m2_decode(0x04), 0x1p-14f);
  EXPECT_EQ(fp8_e5m2_decode(0x7C), std::numeric_limits<float>::infinity());
  EXPECT_EQ(fp8_e5m2_decode(0xFC), -std::numeric_limits<float>::infinity());
  for (uint8_t c : {0x7D, 0x7E, 0x7F, 0xFD, 0xFE, 0xFF}) EXPECT_TRUE(std::isnan(fp8_e5m2_decode(c)));
  EXPECT_TRUE(std::signbit(fp8_e4m3_decode(0x80)));
  EXPECT_EQ(fp8_max(Fp8Format::e4m3), fp8_e4m3_decode(0x7E));
  EXPECT_EQ(fp8_max(Fp8Format::e5m2), fp8_e5m2_decode(0x7B));
}

TEST(Fp8Codec, OverflowAndSpecials) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  using S = Fp8Saturation;
  // E4M3: 464 is the midpoint to the missing 480 and ties to even 448.
  EXPECT_EQ(fp8_e4m3_encode(464.0f, S::nosat), 0x7E);
  EXPECT_EQ(fp8_e4m3_encode(std::nextafter(464.0f, 1e9f), S::nosat), 0x7F);
  EXPECT_EQ(fp8_e4m3_encode(std::nextafter(464.0f, 1e9f), S::satfinite), 0x7E);
  EXPECT_EQ(fp8_e4m3_encode(-1e30f, S::satfinite), 0xFE);
  EXPECT_EQ(fp8_e4m3_encode(-1e30f, S::nosat), 0xFF);
  EXPECT_EQ(fp8_e4m3_encode(inf, S::satfinite), 0x7E);
  EXPECT_EQ(fp8_e4m3_encode(inf, S::nosat), 0x7F);
  EXPECT_EQ(fp8_e4m3_encode(nan, S::satfinite), 0x7F);
  EXPECT_EQ(fp8_e4m3_encode(-nan, S::satfinite), 0x7F);  // canonical NaN
  // E5M2: 61440 is the midpoint between 57344 (odd mantissa) and infinity.
  EXPECT_EQ(fp8_e5m2_encode(std::nextafter(61440.0f, 0.0f), S::nosat), 0x7B);
  EXPECT_EQ(fp8_e5m2_encode(61440.0f, S::nosat), 0x7C);
  EXPECT_EQ(fp8_e5m2_encode(61440.0f, S::satfinite), 0x7B);
  EXPECT_EQ(fp8_e5m2_encode(-inf, S::nosat), 0xFC);
  EXPECT_EQ(fp8_e5m2_encode(-inf, S::satfinite), 0xFB);
  EXPECT_EQ(fp8_e5m2_encode(nan, S::nosat), 0x7F);
  // Underflow: half the smallest subnormal ties to zero, anything above rounds up.
  EXPECT_EQ(fp8_e4m3_encode(0x1p-10f), 0x00);
  EXPECT_EQ(fp8_e4m3_encode(std::nextafter(0x1p-10f, 1.0f)), 0x01);
  EXPECT_EQ(fp8_e4m3_encode(-0x1p-10f), 0x80);
  EXPECT_EQ(fp8_e5m2_encode(0x1p-17f), 0x00);
  EXPECT_EQ(fp8_e5m2_encode(3 * 0x1p-17f), 0x02);  // 1.5 ulp ties to even 2
  EXPECT_EQ(fp8_e4m3_encode(1e-45f), 0x00);         // float subnormal
  EXPECT_EQ(fp8_e4m3_encode(-0.0f), 0x80);
}

// Every code decodes to a value that encodes back to the same code, in both
// saturation modes (E5M2 infinity only without saturation).
TEST(Fp8Codec, AllCodesRoundTrip) {
  for (Fp8Format f : kFormats) {
    for (int i = 0; i < 256; ++i) {
      const uint8_t c = uint8_t(i);
      const float v = fp8_decode(c, f);
      if (is_nan_code(c, f)) {
        EXPECT_TRUE(std::isnan(v)) << int(c);
        EXPECT_EQ(fp8_encode(v, f), 0x7F);
        continue;
      }
      EXPECT_EQ(fp8_encode(v, f, Fp8Saturation::nosat), c) << "format " << int(f) << " code " << i;
      if (!is_inf_code(c, f)) {
        EXPECT_EQ(fp8_encode(v, f, Fp8Saturation::satfinite), c) << "code " << i;
      }
    }
  }
}

// Between every two neighbouring finite values: values just inside round to the
// nearer one, the exact midpoint to the one with the even code. Covers normal,
// subnormal and the normal/subnormal boundary in both formats.
TEST(Fp8Codec, RoundsToNearestEvenAtEveryMidpoint) {
  for (Fp8Format f : kFormats) {
    const uint8_t max_code = f == Fp8Format::e4m3 ? 0x7E : 0x7B;
    for (uint8_t c = 0; c < max_code; ++c) {
      for (float sign : {1.0f, -1.0f}) {
        const float lo = sign * fp8_decode(c, f), hi = sign * fp8_decode(uint8_t(c + 1), f);
        const double mid_d = (double(lo) + double(hi)) / 2;
        const float mid = float(mid_d);
        ASSERT_EQ(double(mid), mid_d);  // midpoints are floats
        const uint8_t s = sign < 0 ? 0x80 : 0x00;
        EXPECT_EQ(fp8_encode(mid, f), uint8_t((c % 2 == 0 ? c : c + 1) | s)) << int(c);
        EXPECT_EQ(fp8_encode(std::nextafter(mid, lo), f), uint8_t(c | s)) << int(c);
        EXPECT_EQ(fp8_encode(std::nextafter(mid, hi), f), uint8_t((c + 1) | s)) << int(c);
      }
    }
  }
}

TEST(Fp8Codec, DecodeTableMatchesDecoder) {
  for (Fp8Format f : kFormats) {
    const float* t = fp8_decode_table(f);
    for (int c = 0; c < 256; ++c) {
      const float v = fp8_decode(uint8_t(c), f);
      if (std::isnan(v))
        EXPECT_TRUE(std::isnan(t[c]));
      else
        EXPECT_EQ(t[c], v);
    }
  }
}

TEST(Fp8Codec, ScaleFromAmax) {
  EXPECT_EQ(fp8_scale_from_amax(0.0f, Fp8Format::e4m3, false), 1.0f);
  EXPECT_EQ(fp8_scale_from_amax(0.0f, Fp8Format::e4m3, true), 1.0f);
  EXPECT_EQ(fp8_scale_from_amax(448.0f, Fp8Format::e4m3, false), 1.0f);
  EXPECT_EQ(fp8_scale_from_amax(3.0f, Fp8Format::e4m3, false), 3.0f / 448.0f);
  EXPECT_EQ(fp8_scale_from_amax(57344.0f * 2, Fp8Format::e5m2, false), 2.0f);
  // Power of two: rounded up, exact powers kept.
  EXPECT_EQ(fp8_scale_from_amax(448.0f, Fp8Format::e4m3, true), 1.0f);
  EXPECT_EQ(fp8_scale_from_amax(449.0f, Fp8Format::e4m3, true), 2.0f);
  EXPECT_EQ(fp8_scale_from_amax(3.0f, Fp8Format::e4m3, true), 0x1p-7f);  // 3/448 = 0.0067
  // Tiny max-abs: clamped to the smallest normal float, so 1/scale stays finite.
  EXPECT_EQ(fp8_scale_from_amax(1e-40f, Fp8Format::e4m3, false), 0x1p-126f);
  EXPECT_TRUE(std::isfinite(1.0f / fp8_scale_from_amax(1e-45f, Fp8Format::e4m3, true)));
  // Nothing overflows. Power-of-two scales: max / scale <= fp8 max exactly. Plain
  // scales: amax / fl(amax / 448) may exceed 448 by a float ulp, far below the
  // rounding threshold, so the tile max encodes to exactly the largest code even
  // without saturation.
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> expo(-120.0f, 120.0f);
  for (int i = 0; i < 10000; ++i) {
    const float amax = std::exp2(expo(rng));
    for (Fp8Format f : kFormats) {
      const uint8_t max_code = f == Fp8Format::e4m3 ? 0x7E : 0x7B;
      const float s2 = fp8_scale_from_amax(amax, f, true);
      EXPECT_LE(amax / s2, fp8_max(f)) << amax;
      const float s = fp8_scale_from_amax(amax, f, false);
      if (s > 0x1p-126f)  // not clamped
        EXPECT_EQ(fp8_encode(amax / s, f, Fp8Saturation::nosat), max_code) << amax;
      else
        EXPECT_LE(amax / s, fp8_max(f)) << amax;
    }
  }
}

#if defined(SADARI_HAVE_CUDA_FP8_H)

__nv_fp8_interpretation_t nv_format(Fp8Format f) {
  return f == Fp8Format::e4m3 ? __NV_E4M3 : __NV_E5M2;
}
__nv_saturation_t nv_sat(Fp8Saturation s) {
  return s == Fp8Saturation::satfinite ? __NV_SATFINITE : __NV_NOSAT;
}

// NVIDIA decodes to half; every FP8 value is a half, and half -> float is exact.
float nv_decode(uint8_t c, Fp8Format f) {
  const __half_raw h = __nv_cvt_fp8_to_halfraw(__nv_fp8_storage_t(c), nv_format(f));
  return __half2float(__half(h));
}

void expect_same_encoding(float x) {
  for (Fp8Format f : kFormats)
    for (Fp8Saturation s : kSats) {
      const unsigned want = __nv_cvt_float_to_fp8(x, nv_sat(s), nv_format(f));
      const unsigned got = fp8_encode(x, f, s);
      ASSERT_EQ(got, want) << "x=" << x << " (bits 0x" << std::hex
                           << fp8_detail::float_bits(x) << ") format " << int(f) << " sat "
                           << int(s);
    }
}

TEST(Fp8CodecNvidia, AllCodesDecodeAlike) {
  for (Fp8Format f : kFormats)
    for (int c = 0; c < 256; ++c) {
      const float mine = fp8_decode(uint8_t(c), f), nv = nv_decode(uint8_t(c), f);
      if (std::isnan(nv))
        EXPECT_TRUE(std::isnan(mine)) << c;
      else
        EXPECT_EQ(mine, nv) << "format " << int(f) << " code " << c;
    }
}

TEST(Fp8CodecNvidia, SpecialAndBoundaryValuesEncodeAlike) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> xs = {0.0f, -0.0f, inf, -inf, std::numeric_limits<float>::quiet_NaN(),
                           -std::numeric_limits<float>::quiet_NaN(),
                           std::numeric_limits<float>::signaling_NaN(),
                           std::numeric_limits<float>::max(), std::numeric_limits<float>::min(),
                           std::numeric_limits<float>::denorm_min(), 448.0f, 464.0f, 480.0f,
                           57344.0f, 61440.0f, 65536.0f, 0x1p-9f, 0x1p-10f, 0x1p-16f, 0x1p-17f};
  // Every code's value, its neighbours in float and the midpoints to the next code.
  for (Fp8Format f : kFormats)
    for (int c = 0; c < 256; ++c) {
      const float v = fp8_decode(uint8_t(c), f);
      if (!std::isfinite(v)) continue;
      xs.insert(xs.end(), {v, std::nextafter(v, inf), std::nextafter(v, -inf)});
      const float w = fp8_decode(uint8_t(c + 1), f);
      if (c != 0x7F && c != 0xFF && std::isfinite(w)) {
        const float mid = float((double(v) + double(w)) / 2);
        xs.insert(xs.end(), {mid, std::nextafter(mid, inf), std::nextafter(mid, -inf)});
      }
    }
  for (float x : xs) expect_same_encoding(x);
}

TEST(Fp8CodecNvidia, RandomFloatsEncodeAlike) {
  std::mt19937_64 rng(2024);
  // Random bit patterns (every exponent, NaNs and infinities included) ...
  for (int i = 0; i < 300000; ++i) expect_same_encoding(fp8_detail::bits_float(uint32_t(rng())));
  // ... and log-uniform magnitudes over the FP8 ranges and beyond.
  std::uniform_real_distribution<float> expo(-24.0f, 20.0f);
  for (int i = 0; i < 300000; ++i) {
    const float x = std::exp2(expo(rng));
    expect_same_encoding((rng() & 1) ? -x : x);
  }
}

#else

TEST(Fp8CodecNvidia, SkippedWithoutCudaHeaders) {
  GTEST_SKIP() << "<cuda_fp8.h> not found at configure time (no CUDA toolkit): the "
                  "agreement with NVIDIA's conversions is not checked in this build";
}

#endif

}  // namespace
}  // namespace sadari
