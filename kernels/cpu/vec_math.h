// Internal to kernels/cpu (not a kernel contract): vectorised exp over arrays, and
// a double-accumulated sum, for the softmax-shaped loops of attention, softmax
// and cross-entropy; a vectorised logistic sigmoid for SwiGLU and the scalar one
// (stable_sigmoid) that sigmoid_forward and the unvectorised SwiGLU rows use.
//
// Why: libm's expf is one call per element (glibc's vector variants need
// -ffast-math), and it was the largest single cost of attention's softmax. GCC
// will not auto-vectorise a hand-written exp either, because under the default
// -ftrapping-math it keeps the range clamp's float compares as branches. So the
// float path is written with GCC/Clang vector extensions, 8 lanes at a time.
//
// Determinism: every float element goes through exactly the same vector
// operations (the tail of an array is padded into one more vector), so an input
// gives the same bits wherever it sits and however rows are split among threads.
// Double arrays use std::exp: double is the precision gradients are checked in.
//
// Accuracy of the float exp: Cody-Waite range reduction plus a degree-7 Taylor
// polynomial, within 1.2 ulp of exp wherever the result is a normal float (0.9 ulp
// where the compiler contracts to FMA, as with -march=native). Inputs
// above 88.72 saturate near FLT_MAX instead of giving inf (callers pass x - max
// <= 0); -inf gives 0; NaN gives NaN.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace sadari::cpu::vecmath {

typedef float f32x8 __attribute__((vector_size(32)));
typedef int32_t i32x8 __attribute__((vector_size(32)));

// In place, by reference, and __builtin_bit_cast rather than std::bit_cast: a
// function passing a 32-byte vector by value has a different ABI with and without
// AVX, which GCC warns about in builds without -march=native.
inline void exp_f32x8(f32x8& v) {
  const f32x8 x = v;
  // Clamp with integer masks (x < lo is -1 in each lane where true). NaN
  // compares false both ways and stays NaN. Below -104 the result rounds to 0
  // anyway, via the underflow of 2^n below.
  const f32x8 lo = f32x8{} - 104.0f, hi = f32x8{} + 88.7228f;
  const i32x8 below = x < lo, above = x > hi;
  i32x8 xi = __builtin_bit_cast(i32x8, x);
  xi = (xi & ~below) | (__builtin_bit_cast(i32x8, lo) & below);
  xi = (xi & ~above) | (__builtin_bit_cast(i32x8, hi) & above);
  const f32x8 xc = __builtin_bit_cast(f32x8, xi);
  // exp(x) = 2^n exp(r), n = round(x / ln2), r = x - n ln2 in [-ln2/2, ln2/2].
  // ln2 is split in a high part with few mantissa bits (n * ln2_hi is exact for
  // |n| < 2^9) and a low correction, so r keeps its accuracy. Adding and
  // subtracting 1.5 * 2^23 rounds to the nearest integer without a libm call.
  const float kLog2e = 1.44269504088896341f, kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
  const float kRound = 12582912.0f;
  const f32x8 n = (xc * kLog2e + kRound) - kRound;
  const f32x8 r = (xc - n * kLn2Hi) - n * kLn2Lo;
  // Taylor to r^7: truncation r^8/8! < 6e-9 relative for |r| <= ln2/2.
  f32x8 p = f32x8{} + 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // 2^n from exponent bits, in two halves n = h + (n - h): n spans [-150, 128]
  // and each half then is a normal, finite float. p * 2^h is exact, so the
  // result is rounded once, also where it is subnormal.
  const i32x8 ni = __builtin_convertvector(n, i32x8);
  const i32x8 h = ni >> 1;
  const i32x8 b1 = (h + 127) << 23;
  const i32x8 b2 = (ni - h + 127) << 23;
  v = (p * __builtin_bit_cast(f32x8, b1)) * __builtin_bit_cast(f32x8, b2);
}

// y[i] = exp(x[i] - shift) for i in [0, n); y may alias x.
inline void exp_shifted(const float* x, float shift, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    f32x8 v;
    std::memcpy(&v, x + i, sizeof v);
    v -= shift;
    exp_f32x8(v);
    std::memcpy(y + i, &v, sizeof v);
  }
  if (i < n) {
    f32x8 v{};
    std::memcpy(&v, x + i, sizeof(float) * (n - i));
    v -= shift;
    exp_f32x8(v);
    std::memcpy(y + i, &v, sizeof(float) * (n - i));
  }
}

// The scalar logistic sigmoid, with exp of a non-positive argument only: large
// |x| neither overflows nor loses the small tail to 1 - 1. The reference form for
// double, and for float where a row is not vectorised (sigmoid_f32x8 below).
template <typename T>
inline T stable_sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

// v = 1 / (1 + exp(-v)) in each lane, through e = exp(-|v|) <= 1 so nothing
// overflows: 1 / (1 + e) for v >= 0, e / (1 + e) below (the stable form of the
// scalar kernels). NaN stays NaN. Within ~2 ulp of the exactly rounded sigmoid.
inline void sigmoid_f32x8(f32x8& v) {
  const f32x8 x = v;
  const i32x8 negative = x < 0.0f;
  const i32x8 sign = i32x8{} + int32_t(0x80000000u);
  f32x8 e = __builtin_bit_cast(f32x8, __builtin_bit_cast(i32x8, x) | sign);  // -|x|
  exp_f32x8(e);
  const f32x8 d = e + 1.0f;
  const f32x8 pos = 1.0f / d, neg = e / d;
  v = __builtin_bit_cast(f32x8, (__builtin_bit_cast(i32x8, neg) & negative) |
                                    (__builtin_bit_cast(i32x8, pos) & ~negative));
}

inline void exp_shifted(const double* x, double shift, double* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i] - shift);
}

// Sum in double with four interleaved partial sums (one dependent add chain would
// be latency-bound), combined in a fixed order: the result depends only on the
// array, never on threads.
template <typename T>
double sum_double(const T* x, int64_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += double(x[i]);
    s1 += double(x[i + 1]);
    s2 += double(x[i + 2]);
    s3 += double(x[i + 3]);
  }
  for (; i < n; ++i) s0 += double(x[i]);
  return (s0 + s1) + (s2 + s3);
}

}  // namespace sadari::cpu::vecmath
