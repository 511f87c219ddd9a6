// Elementwise helpers against plain loops (n large enough for the parallel path),
// and bf16 rounding: round-to-nearest-even at exact halfway points in both
// directions, NaN stays NaN, infinities stay, overflow rounds to infinity.
#include "kernels/cpu/elementwise.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>

#include "tests/kernels/grad_check.h"

namespace sadari::cpu {
namespace {

constexpr int64_t kN = 100003;  // above the parallel threshold, not a multiple of anything

TEST(Elementwise, AddAxpyScale) {
  const auto a = test::random_vector(kN, 90), b = test::random_vector(kN, 91);
  std::vector<double> out(kN);
  add<double>(a.data(), b.data(), out.data(), kN);
  for (int64_t i = 0; i < kN; ++i) ASSERT_EQ(out[i], a[i] + b[i]);

  auto y = a;
  add_inplace<double>(y.data(), b.data(), kN);
  for (int64_t i = 0; i < kN; ++i) ASSERT_EQ(y[i], a[i] + b[i]);

  std::vector<float> yf(a.begin(), a.end());
  const std::vector<float> xf(b.begin(), b.end());
  axpy<float>(0.5f, xf.data(), yf.data(), kN);
  for (int64_t i = 0; i < kN; ++i) ASSERT_EQ(yf[i], float(a[i]) + 0.5f * xf[i]);

  y = a;
  scale<double>(y.data(), -3.0, kN);
  for (int64_t i = 0; i < kN; ++i) ASSERT_EQ(y[i], -3.0 * a[i]);
}

TEST(Elementwise, SumSquares) {
  const auto a = test::random_vector(kN, 92);
  double ref = 0;
  for (double v : a) ref += v * v;
  EXPECT_NEAR(sum_squares<double>(a.data(), kN), ref, 1e-10 * ref);
  const std::vector<float> af(a.begin(), a.end());
  double reff = 0;
  for (float v : af) reff += double(v) * double(v);
  EXPECT_NEAR(sum_squares<float>(af.data(), kN), reff, 1e-10 * reff);  // double accumulation
  EXPECT_EQ(sum_squares<double>(a.data(), 0), 0.0);
}

float from_bits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
uint32_t to_bits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  return bits;
}

TEST(Bf16, RoundsToNearestEven) {
  struct Case {
    uint32_t in, out;
    const char* why;
  };
  const Case cases[] = {
      {0x3F800000u, 0x3F800000u, "1.0 is exact"},
      {0x3F808000u, 0x3F800000u, "halfway above even 0x3F80: down"},
      {0x3F818000u, 0x3F820000u, "halfway above odd 0x3F81: up"},
      {0x3F808001u, 0x3F810000u, "just above halfway: up"},
      {0x3F807FFFu, 0x3F800000u, "just below halfway: down"},
      {0xBF808000u, 0xBF800000u, "negative halfway, even: toward zero"},
      {0xBF818000u, 0xBF820000u, "negative halfway, odd: away from zero"},
      {0x00008000u, 0x00000000u, "subnormal halfway to even zero"},
      {0x00018000u, 0x00020000u, "subnormal halfway, odd: up"},
      {0x7F7F8000u, 0x7F800000u, "halfway above odd 0x7F7F overflows to inf"},
      {0x7F7FFFFFu, 0x7F800000u, "FLT_MAX rounds to inf"},
      {0x7F7F7FFFu, 0x7F7F0000u, "largest bf16 stays finite"},
      {0x7F800000u, 0x7F800000u, "+inf stays"},
      {0xFF800000u, 0xFF800000u, "-inf stays"},
      {0x80000000u, 0x80000000u, "-0 stays"},
  };
  std::vector<float> x, expect;
  for (const Case& c : cases) {
    x.push_back(from_bits(c.in));
    expect.push_back(from_bits(c.out));
  }
  round_to_bf16_inplace(x.data(), int64_t(x.size()));
  for (size_t i = 0; i < x.size(); ++i)
    EXPECT_EQ(to_bits(x[i]), to_bits(expect[i])) << cases[i].why;
}

TEST(Bf16, NaNStaysNaN) {
  // 0x7F800001: payload only in the low bits that are dropped; plain rounding
  // would turn it into inf.
  std::vector<float> x = {from_bits(0x7FC00000u), from_bits(0x7F800001u), from_bits(0xFF800001u),
                          from_bits(0x7FFFFFFFu)};
  round_to_bf16_inplace(x.data(), int64_t(x.size()));
  for (float v : x) EXPECT_TRUE(std::isnan(v)) << std::hex << to_bits(v);
  EXPECT_TRUE(std::signbit(x[2]));  // sign kept
}

TEST(Bf16, LargeBufferMatchesScalar) {
  const auto a = test::random_vector(kN, 93, -1e3, 1e3);
  std::vector<float> x(a.begin(), a.end());
  const std::vector<float> orig = x;
  round_to_bf16_inplace(x.data(), kN);
  for (int64_t i = 0; i < kN; ++i) {
    ASSERT_EQ(to_bits(x[i]) & 0xFFFFu, 0u);
    ASSERT_LE(std::abs(x[i] - orig[i]), std::abs(orig[i]) * 0x1p-8f);  // half an ulp of bf16
  }
}

}  // namespace
}  // namespace sadari::cpu
