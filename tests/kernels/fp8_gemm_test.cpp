// CPU FP8 GEMM (kernels/cpu/fp8_gemm.h) against a literal double-precision
// evaluation of its definition (per-128-of-K block sums times the two scales), an
// exact case, the quantisation error of a product of Gaussian matrices against the
// unquantised product, and errors for bad operands.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/fp8_gemm.h"
#include "tests/kernels/gaussian.h"

namespace sadari::cpu {
namespace {

struct Reference {
  std::vector<double> c;    // the definition, in double
  std::vector<double> abs;  // sum_k |a_k b_k| (for the fp32 rounding bound)
};

// The definition, literally: for each K block, the sum of the products of decoded
// codes, times sA * sB; the blocks summed.
Reference reference(const Fp8View& A, const Fp8View& B) {
  const int64_t M = A.rows, N = B.rows, K = A.cols;
  Reference r{std::vector<double>(size_t(M * N)), std::vector<double>(size_t(M * N))};
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double total = 0, abs_total = 0;
      for (int64_t k0 = 0; k0 < K; k0 += 128) {
        double block = 0, abs_block = 0;
        for (int64_t k = k0; k < std::min(K, k0 + 128); ++k) {
          const double p = double(fp8_decode(A.q[m * K + k], A.format)) *
                           double(fp8_decode(B.q[n * K + k], B.format));
          block += p;
          abs_block += std::fabs(p);
        }
        const double s = double(A.scale_at(m, k0)) * double(B.scale_at(n, k0));
        total += block * s;
        abs_total += abs_block * s;
      }
      r.c[size_t(m * N + n)] = total;
      r.abs[size_t(m * N + n)] = abs_total;
    }
  return r;
}

Fp8Matrix quantise(const std::vector<float>& x, int64_t rows, int64_t cols, Fp8Tiling t,
                   const Fp8QuantizeOptions& opt, const char* name) {
  return t == Fp8Tiling::tiles_1x128 ? Fp8Matrix::tiles(x.data(), rows, cols, opt, name)
                                     : Fp8Matrix::blocks(x.data(), rows, cols, opt, name);
}

struct Case {
  int64_t M, N, K;
};

TEST(Fp8Gemm, MatchesDoublePrecisionDefinition) {
  const Case cases[] = {{64, 96, 256}, {5, 130, 300}, {200, 70, 129}, {1, 1, 1}, {33, 17, 1000},
                        {0, 3, 128}, {3, 0, 128}, {4, 5, 0}};
  const Fp8Tiling tilings[] = {Fp8Tiling::tiles_1x128, Fp8Tiling::blocks_128x128};
  double worst = 0;  // largest |error| / bound seen
  for (auto [M, N, K] : cases)
    for (Fp8Tiling ta : tilings)
      for (Fp8Tiling tb : tilings)
        for (Fp8Format f : {Fp8Format::e4m3, Fp8Format::e5m2})
          for (bool pow2 : {false, true})
            for (float beta : {0.0f, 0.5f}) {
              const Fp8QuantizeOptions opt{f, pow2};
              auto a = gaussian(M * K, 10 + M);
              const auto b = gaussian(N * K, 20 + N, 0.05f);
              if (M * K > 50) a[50] = 300.0f;  // an outlier in one tile
              const auto qa = quantise(a, M, K, ta, opt, "a");
              const auto qb = quantise(b, N, K, tb, {Fp8Format::e4m3, pow2}, "b");
              const auto c0 = gaussian(M * N, 30);
              std::vector<float> c = c0;
              fp8_gemm_nt(qa.view(), qb.view(), c.data(), N, beta);
              const auto ref = reference(qa.view(), qb.view());
              for (int64_t i = 0; i < M * N; ++i) {
                const double want = ref.c[size_t(i)] + double(beta) * double(c0[size_t(i)]);
                const double bound = double(K + 2) * 0x1p-24 * ref.abs[size_t(i)] +
                                     0x1p-23 * std::fabs(double(beta) * c0[size_t(i)]) +
                                     std::numeric_limits<float>::denorm_min();
                const double err = std::fabs(double(c[size_t(i)]) - want);
                ASSERT_LE(err, bound) << M << "x" << N << "x" << K << " element " << i;
                worst = std::max(worst, err / bound);
              }
            }
  std::printf("[fp8 gemm] largest |C - C_def| / ((K+2) 2^-24 sum|ab|): %.3g\n", worst);
}

// Small integers times power-of-two scales: every partial sum is a float, so any
// summation order gives the definition exactly.
TEST(Fp8Gemm, ExactForPowerOfTwoScalesAndSmallIntegers) {
  const int64_t M = 40, N = 50, K = 256;
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> val(-8, 8), expo(-2, 2);
  auto make = [&](int64_t rows, Fp8Tiling t, const char* name) {
    Fp8Matrix m{rows, K, Fp8Format::e4m3, t, name, {}, {}};
    for (int64_t i = 0; i < rows * K; ++i) m.q.push_back(fp8_e4m3_encode(float(val(rng))));
    const int64_t ns = m.view().scale_rows() * m.view().scale_cols();
    for (int64_t i = 0; i < ns; ++i) m.scales.push_back(std::ldexp(1.0f, expo(rng)));
    return m;
  };
  const auto A = make(M, Fp8Tiling::tiles_1x128, "A");
  const auto B = make(N, Fp8Tiling::blocks_128x128, "B");
  std::vector<float> c(size_t(M * N));
  fp8_gemm_nt(A.view(), B.view(), c.data(), N);
  const auto ref = reference(A.view(), B.view());
  for (int64_t i = 0; i < M * N; ++i) ASSERT_EQ(double(c[size_t(i)]), ref.c[size_t(i)]) << i;
}

// Quantisation error of a product of Gaussian matrices: C8 = A8 . B8^T (A 1x128
// tiles, B 128x128 blocks) against the exact product of the unquantised matrices.
// Elementwise, the rigorous bound from the per-element quantisation bounds
// (|a - a8| <= max(2^-4 |a|, 2^-10 sA) for E4M3, see fp8_quantize_test) plus fp32
// rounding must hold; in the Frobenius norm the relative error is measured and
// bounded (a quantised value is off by ~2^-4/sqrt(3) relative rms per operand, so
// about 0.03-0.04 is expected for E4M3, twice that for E5M2).
TEST(Fp8Gemm, GaussianProductQuantisationError) {
  const int64_t M = 256, N = 192, K = 1024;
  const auto a = gaussian(M * K, 40);
  const auto b = gaussian(N * K, 41, 0.02f);
  for (Fp8Format f : {Fp8Format::e4m3, Fp8Format::e5m2})
    for (bool pow2 : {false, true}) {
      const Fp8QuantizeOptions opt{f, pow2};
      const auto qa = Fp8Matrix::tiles(a.data(), M, K, opt, "a");
      const auto qb = Fp8Matrix::blocks(b.data(), N, K, opt, "b");
      std::vector<float> c8(size_t(M * N));
      fp8_gemm_nt(qa.view(), qb.view(), c8.data(), N);
      const double rel = f == Fp8Format::e4m3 ? 0x1p-4 : 0x1p-3;
      const double sub = f == Fp8Format::e4m3 ? 0x1p-10 : 0x1p-17;
      double err2 = 0, ref2 = 0, worst = 0;
      for (int64_t m = 0; m < M; ++m)
        for (int64_t n = 0; n < N; ++n) {
          double exact = 0, bound = 0, abs8 = 0;
          for (int64_t k = 0; k < K; ++k) {
            const double x = a[size_t(m * K + k)], y = b[size_t(n * K + k)];
            const double ea = std::max(rel * std::fabs(x), sub * qa.view().scale_at(m, k));
            const double eb = std::max(rel * std::fabs(y), sub * qb.view().scale_at(n, k));
            exact += x * y;
            bound += std::fabs(x) * eb + std::fabs(y) * ea + ea * eb;
            abs8 += (std::fabs(x) + ea) * (std::fabs(y) + eb);
          }
          bound = bound * (1 + 0x1p-20) + double(K + 2) * 0x1p-24 * abs8;
          const double err = std::fabs(double(c8[size_t(m * N + n)]) - exact);
          ASSERT_LE(err, bound) << m << "," << n;
          worst = std::max(worst, err / bound);
          err2 += err * err;
          ref2 += exact * exact;
        }
      const double frob = std::sqrt(err2 / ref2);
      std::printf("[fp8 gemm] %s pow2=%d %ldx%ldx%ld: relative Frobenius error %.4f, "
                  "largest elementwise error / bound %.3f\n",
                  f == Fp8Format::e4m3 ? "e4m3" : "e5m2", int(pow2), long(M), long(N), long(K),
                  frob, worst);
      EXPECT_LT(frob, f == Fp8Format::e4m3 ? 0.05 : 0.10);
      EXPECT_GT(frob, f == Fp8Format::e4m3 ? 0.005 : 0.01);  // it did quantise
    }
}

TEST(Fp8Gemm, SameBitsForAnyThreadCount) {
  const int64_t M = 300, N = 260, K = 520;
  const auto a = gaussian(M * K, 50), b = gaussian(N * K, 51);
  const auto qa = Fp8Matrix::tiles(a.data(), M, K, {}, "a");
  const auto qb = Fp8Matrix::blocks(b.data(), N, K, {}, "b");
  std::vector<float> c1(size_t(M * N)), c2(size_t(M * N));
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  fp8_gemm_nt(qa.view(), qb.view(), c1.data(), N);
  omp_set_num_threads(std::max(2, saved));
  fp8_gemm_nt(qa.view(), qb.view(), c2.data(), N);
  omp_set_num_threads(saved);
  EXPECT_EQ(c1, c2);
}

TEST(Fp8Gemm, MismatchedKNamesBothTensors) {
  const auto a = gaussian(4 * 128, 1), b = gaussian(4 * 256, 2);
  const auto qa = Fp8Matrix::tiles(a.data(), 4, 128, {}, "blocks.0.attn.x");
  const auto qb = Fp8Matrix::blocks(b.data(), 4, 256, {}, "blocks.0.attn.wq");
  std::vector<float> c(16);
  try {
    fp8_gemm_nt(qa.view(), qb.view(), c.data(), 4);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("blocks.0.attn.x"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("blocks.0.attn.wq"), std::string::npos) << e.what();
  }
  EXPECT_THROW(fp8_gemm_nt(qa.view(), qa.view(), c.data(), 3), Error);  // ldc < N
}

TEST(Fp8Gemm, BadScaleNamesTensorAndTile) {
  const auto a = gaussian(4 * 300, 1), b = gaussian(200 * 300, 2);
  auto qa = Fp8Matrix::tiles(a.data(), 4, 300, {}, "x");
  auto qb = Fp8Matrix::blocks(b.data(), 200, 300, {}, "blocks.1.ffn.w_down");
  std::vector<float> c(4 * 200, 7.0f);
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    0.0f, -1.0f}) {
    auto b2 = qb;
    b2.scales[1 * 3 + 2] = bad;  // block row 1, block column 2
    try {
      fp8_gemm_nt(qa.view(), b2.view(), c.data(), 200);
      ADD_FAILURE() << "no error for scale " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.where(), "tensor blocks.1.ffn.w_down");
      EXPECT_NE(e.what_failed().find("tile [1, 2]"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(c, std::vector<float>(4 * 200, 7.0f));  // nothing written
}

}  // namespace
}  // namespace sadari::cpu
