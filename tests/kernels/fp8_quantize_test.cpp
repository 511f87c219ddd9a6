// Fine-grained FP8 quantisation (kernels/cpu/fp8_quantize.h): scales per 1x128 tile
// and per 128x128 block against a direct per-tile computation, partial tiles, the
// transposed layouts, exactness of power-of-two scales, the error bound, and the
// errors for non-finite input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/fp8_quantize.h"
#include "tests/kernels/gaussian.h"

namespace sadari::cpu {
namespace {

// The tile's scale computed directly from the definition.
float expected_scale(const std::vector<float>& x, int64_t cols, int64_t r0, int64_t r1,
                     int64_t c0, int64_t c1, const Fp8QuantizeOptions& opt) {
  float amax = 0;
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t c = c0; c < c1; ++c) amax = std::max(amax, std::fabs(x[size_t(r * cols + c)]));
  return fp8_scale_from_amax(amax, opt.format, opt.pow2_scales);
}

// Every element: q == encode(x / scale) with its own tile's scale.
void expect_codes(const std::vector<float>& x, int64_t rows, int64_t cols, const Fp8Matrix& m,
                  bool transposed) {
  const Fp8View v = m.view();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t qr = transposed ? c : r, qc = transposed ? r : c;
      const float s = v.scale_at(qr, qc);
      ASSERT_EQ(m.q[size_t(qr * m.cols + qc)], fp8_encode(x[size_t(r * cols + c)] / s, m.format))
          << r << "," << c;
    }
}

struct Shape {
  int64_t rows, cols;
};
// Multiples of 128, partial last tiles, and shapes below one tile.
const Shape kShapes[] = {{256, 384}, {130, 200}, {3, 129}, {1, 1}, {257, 127}, {0, 5}};

TEST(Fp8Quantize, TilesScalesAndCodes) {
  for (Fp8Format f : {Fp8Format::e4m3, Fp8Format::e5m2})
    for (bool pow2 : {false, true})
      for (auto [rows, cols] : kShapes) {
        const Fp8QuantizeOptions opt{f, pow2};
        auto x = gaussian(rows * cols, 1);
        // One outlier: it must only coarsen its own tile.
        if (rows * cols > 10) x[7] = 1000.0f;
        const auto m = Fp8Matrix::tiles(x.data(), rows, cols, opt, "x");
        ASSERT_EQ(m.scales.size(), size_t(rows * fp8_tiles(cols)));
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t t = 0; t < fp8_tiles(cols); ++t)
            ASSERT_EQ(m.scales[size_t(r * fp8_tiles(cols) + t)],
                      expected_scale(x, cols, r, r + 1, t * 128, std::min(cols, t * 128 + 128),
                                     opt));
        expect_codes(x, rows, cols, m, false);
      }
}

TEST(Fp8Quantize, BlocksScalesAndCodes) {
  for (bool pow2 : {false, true})
    for (auto [rows, cols] : kShapes) {
      const Fp8QuantizeOptions opt{Fp8Format::e4m3, pow2};
      const auto w = gaussian(rows * cols, 2, 0.02f);
      const auto m = Fp8Matrix::blocks(w.data(), rows, cols, opt, "w");
      const int64_t br = fp8_tiles(rows), bc = fp8_tiles(cols);
      ASSERT_EQ(m.scales.size(), size_t(br * bc));
      for (int64_t i = 0; i < br; ++i)
        for (int64_t j = 0; j < bc; ++j)
          ASSERT_EQ(m.scales[size_t(i * bc + j)],
                    expected_scale(w, cols, i * 128, std::min(rows, i * 128 + 128), j * 128,
                                   std::min(cols, j * 128 + 128), opt));
      expect_codes(w, rows, cols, m, false);
    }
}

// The transposed quantiser equals transposing x and then quantising 1x128.
TEST(Fp8Quantize, TilesTransposedEqualsTransposeThenQuantise) {
  for (auto [rows, cols] : kShapes) {
    const Fp8QuantizeOptions opt{Fp8Format::e4m3, false};
    const auto x = gaussian(rows * cols, 3);
    std::vector<float> xt(x.size());
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) xt[size_t(c * rows + r)] = x[size_t(r * cols + c)];
    const auto a = Fp8Matrix::tiles_transposed(x.data(), rows, cols, opt, "x^T");
    const auto b = Fp8Matrix::tiles(xt.data(), cols, rows, opt, "x^T");
    EXPECT_EQ(a.rows, cols);
    EXPECT_EQ(a.cols, rows);
    EXPECT_EQ(a.q, b.q) << rows << "x" << cols;
    EXPECT_EQ(a.scales, b.scales) << rows << "x" << cols;
  }
}

// The block transpose is exact: it dequantises to the transpose of the original's
// dequantisation, and equals quantising the transposed matrix.
TEST(Fp8Quantize, BlockTransposeIsExact) {
  for (auto [rows, cols] : kShapes) {
    const Fp8QuantizeOptions opt{Fp8Format::e4m3, false};
    const auto w = gaussian(rows * cols, 4);
    std::vector<float> wt(w.size());
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) wt[size_t(c * rows + r)] = w[size_t(r * cols + c)];
    const auto m = Fp8Matrix::blocks(w.data(), rows, cols, opt, "w");
    const auto t = m.transposed();
    const auto direct = Fp8Matrix::blocks(wt.data(), cols, rows, opt, "w^T");
    EXPECT_EQ(t.name, "w^T");
    EXPECT_EQ(t.q, direct.q);
    EXPECT_EQ(t.scales, direct.scales);
  }
  const auto g = gaussian(4, 5);
  EXPECT_THROW(Fp8Matrix::tiles(g.data(), 2, 2, {}, "x").transposed(), Error);
}

// |x - decode(q) * s| <= max(2^-4 |x|, 2^-10 s) for E4M3 (half an ulp of 3 mantissa
// bits, or of the subnormal spacing 2^-9 s), plus one fp32 rounding; 2^-3 and
// 2^-17 for E5M2. With power-of-two scales dequantisation is exact.
TEST(Fp8Quantize, DequantisationErrorWithinHalfAnUlp) {
  for (Fp8Format f : {Fp8Format::e4m3, Fp8Format::e5m2})
    for (bool pow2 : {false, true}) {
      const int64_t rows = 64, cols = 300;
      auto x = gaussian(rows * cols, 6);
      for (size_t i = 0; i < x.size(); i += 37) x[i] *= 1e-4f;  // small values: subnormals
      const auto m = Fp8Matrix::tiles(x.data(), rows, cols, {f, pow2}, "x");
      const auto d = m.dequantize();
      const float rel = f == Fp8Format::e4m3 ? 0x1p-4f : 0x1p-3f;
      const float sub = f == Fp8Format::e4m3 ? 0x1p-10f : 0x1p-17f;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) {
          const size_t i = size_t(r * cols + c);
          const float s = m.view().scale_at(r, c);
          const float bound = std::max(rel * std::fabs(x[i]), sub * s) * (1 + 0x1p-22f);
          ASSERT_LE(std::fabs(x[i] - d[i]), bound) << r << "," << c;
          if (pow2) {  // decode(q) * s exact: equals the scaled FP8 value in double
            ASSERT_EQ(double(d[i]), double(fp8_decode(m.q[i], f)) * double(s));
          } else {  // one fp32 rounding of the same product
            ASSERT_EQ(d[i], fp8_decode(m.q[i], f) * s);
          }
        }
    }
}

TEST(Fp8Quantize, ZeroTilesGetScaleOne) {
  std::vector<float> x(2 * 256, 0.0f);
  x[300] = 448.0f * 4;  // row 1, column 44: tile 0 of row 1
  const auto m = Fp8Matrix::tiles(x.data(), 2, 256, {}, "x");
  EXPECT_EQ(m.scales, (std::vector<float>{1.0f, 1.0f, 4.0f, 1.0f}));
  EXPECT_EQ(m.q[300], 0x7E);
  EXPECT_EQ(std::count(m.q.begin(), m.q.end(), uint8_t(0)), 511);
}

TEST(Fp8Quantize, NonFiniteInputNamesTensorAndElement) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    auto x = gaussian(300 * 200, 7);
    x[size_t(201 * 200 + 150)] = bad;
    x[size_t(250 * 200 + 3)] = bad;  // a later one: the first in row-major order is named
    for (int kind = 0; kind < 3; ++kind) {
      try {
        if (kind == 0) Fp8Matrix::tiles(x.data(), 300, 200, {}, "blocks.2.ffn.x");
        if (kind == 1) Fp8Matrix::tiles_transposed(x.data(), 300, 200, {}, "blocks.2.ffn.x");
        if (kind == 2) Fp8Matrix::blocks(x.data(), 300, 200, {}, "blocks.2.ffn.x");
        ADD_FAILURE() << "no error for " << bad << " kind " << kind;
      } catch (const Error& e) {
        EXPECT_EQ(e.where(), "tensor blocks.2.ffn.x");
        EXPECT_NE(e.what_failed().find("at [201, 150]"), std::string::npos) << e.what();
        EXPECT_NE(e.what_failed().find("non-finite"), std::string::npos) << e.what();
      }
    }
  }
}

TEST(Fp8Quantize, BadSizesAreErrors) {
  std::vector<float> x(16);
  std::vector<uint8_t> q(16);
  std::vector<float> s(16);
  EXPECT_THROW(fp8_quantize_tiles(x.data(), 2, 8, 4, q.data(), s.data(), {}, "x"), Error);
  EXPECT_THROW(fp8_quantize_blocks(x.data(), -1, 8, 8, q.data(), s.data(), {}, "w"), Error);
}

// Results do not depend on the thread count (tiles are independent).
TEST(Fp8Quantize, LargeInputIsThreadIndependent) {
  const int64_t rows = 700, cols = 520;
  const auto x = gaussian(rows * cols, 8);
  const auto a = Fp8Matrix::tiles_transposed(x.data(), rows, cols, {}, "x");
  std::vector<float> xt(x.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) xt[size_t(c * rows + r)] = x[size_t(r * cols + c)];
  // Built serially: one row at a time through the small-input path.
  std::vector<uint8_t> q(x.size());
  std::vector<float> s(size_t(cols * fp8_tiles(rows)));
  for (int64_t r = 0; r < cols; ++r)
    fp8_quantize_tiles(xt.data() + r * rows, 1, rows, rows, q.data() + r * rows,
                       s.data() + r * fp8_tiles(rows), {}, "x");
  EXPECT_EQ(a.q, q);
  EXPECT_EQ(a.scales, s);
}

}  // namespace
}  // namespace sadari::cpu
