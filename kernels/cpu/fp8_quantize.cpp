#include "kernels/cpu/fp8_quantize.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>

#include "core/error.h"

namespace sadari::cpu {

namespace {

// Parallel regions only pay off above this many elements.
constexpr int64_t kParallelElements = int64_t(1) << 15;

// |x| as ordered integer bits: for non-negative floats the bit patterns order like
// the values, and every NaN or infinity is >= kNonFinite. An integer max over a
// span is therefore both the max-abs and the finiteness check, and vectorises.
constexpr uint32_t kNonFinite = 0x7f800000u;

inline uint32_t abs_bits(float x) { return fp8_detail::float_bits(x) & 0x7fffffffu; }

uint32_t amax_bits(const float* x, int64_t n) {
  uint32_t m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, abs_bits(x[i]));
  return m;
}

template <Fp8Format F>
inline uint8_t encode(float v) {
  if constexpr (F == Fp8Format::e4m3)
    return fp8_e4m3_encode(v, Fp8Saturation::satfinite);
  else
    return fp8_e5m2_encode(v, Fp8Saturation::satfinite);
}

template <Fp8Format F>
void encode_span(const float* x, int64_t n, float scale, uint8_t* q) {
  for (int64_t i = 0; i < n; ++i) q[i] = encode<F>(x[i] / scale);
}

// Branch-free decode of finite codes for the dequantisation loop (vectorises, unlike
// a table lookup): the magnitude bits placed at the top of a float's exponent field
// give the value times 2^-120 (E4M3) or 2^-112 (E5M2), FP8 subnormals becoming
// float subnormals, and the power-of-two multiply is exact (host code: no FTZ/DAZ).
// Non-finite codes (never produced by the quantisers) are still decoded right.
// (Selects are written as bit masks: with a ?: on the multiply's result GCC keeps
// a branch, since the multiply might trap, and does not vectorise.)
template <Fp8Format F>
inline float decode_fast(uint8_t c) {
  const uint32_t mag = c & 0x7Fu, sign = uint32_t(c & 0x80u) << 24;
  uint32_t v, special, is_special;
  if constexpr (F == Fp8Format::e4m3) {
    v = fp8_detail::float_bits(fp8_detail::bits_float(mag << 20) * 0x1p120f);
    special = 0x7fc00000u;                  // NaN
    is_special = 0u - uint32_t(mag == 0x7Fu);
  } else {
    v = fp8_detail::float_bits(fp8_detail::bits_float(mag << 21) * 0x1p112f);
    special = 0x7f800000u | (uint32_t((mag & 3u) != 0u) << 22);  // infinity or NaN
    is_special = 0u - uint32_t(mag >= 0x7Cu);
  }
  return fp8_detail::bits_float(((v & ~is_special) | (special & is_special)) | sign);
}

template <Fp8Format F>
void dequantize_impl(const Fp8View& v, float* out, int64_t ldo) {
  const int64_t nt = v.scale_cols();
  const bool tiles = v.tiling == Fp8Tiling::tiles_1x128;
#pragma omp parallel for schedule(static) if (v.rows * v.cols >= kParallelElements)
  for (int64_t r = 0; r < v.rows; ++r) {
    const float* srow = v.scales + (tiles ? r : r / kFp8Tile) * nt;
    const uint8_t* qr = v.q + r * v.cols;
    float* o = out + r * ldo;
    for (int64_t t = 0; t < nt; ++t) {
      const int64_t c0 = t * kFp8Tile, n = std::min(kFp8Tile, v.cols - c0);
      const float s = srow[t];
      for (int64_t c = c0; c < c0 + n; ++c) o[c] = decode_fast<F>(qr[c]) * s;
    }
  }
}

void check_sizes(int64_t rows, int64_t cols, int64_t ld, std::string_view name) {
  if (rows < 0 || cols < 0 || ld < cols)
    fail(detail::cat("bad FP8 quantisation sizes rows=", rows, " cols=", cols, " ld=", ld,
                     " (need rows, cols >= 0 and ld >= cols)"),
         detail::cat("tensor ", name));
}

// Called after a tile reported a non-finite max: finds the first bad element in
// row-major order (so the message does not depend on thread timing) and throws.
[[noreturn]] void throw_non_finite(const float* x, int64_t rows, int64_t cols, int64_t ld,
                                   std::string_view name) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      if (!std::isfinite(x[r * ld + c]))
        fail(detail::cat("non-finite value ", x[r * ld + c], " at [", r, ", ", c,
                         "] cannot be quantised to FP8"),
             detail::cat("tensor ", name),
             "the values overflowed or became NaN upstream: check the inputs, lower the "
             "learning rate, or run in f32 to find the first bad step");
  SADARI_ASSERT(false);
  std::abort();
}

float scale_of(uint32_t amax, const Fp8QuantizeOptions& opt) {
  return fp8_scale_from_amax(fp8_detail::bits_float(amax), opt.format, opt.pow2_scales);
}

template <Fp8Format F>
void quantize_tiles_impl(const float* x, int64_t rows, int64_t cols, int64_t ldx, uint8_t* q,
                         float* scales, const Fp8QuantizeOptions& opt, std::atomic<bool>& bad) {
  const int64_t nt = fp8_tiles(cols);
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelElements)
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t t = 0; t < nt; ++t) {
      const int64_t c0 = t * kFp8Tile, n = std::min(kFp8Tile, cols - c0);
      const uint32_t m = amax_bits(x + r * ldx + c0, n);
      if (m >= kNonFinite) {
        bad.store(true, std::memory_order_relaxed);
        continue;
      }
      const float s = scale_of(m, opt);
      scales[r * nt + t] = s;
      encode_span<F>(x + r * ldx + c0, n, s, q + r * cols + c0);
    }
  }
}

// Transposed: for each block of 128 rows (tokens) and each chunk of columns, the
// per-column max over the block, then codes written transposed. The chunk keeps
// the written lines of q (kChunk rows of q, 128 bytes each) in L1.
template <Fp8Format F>
void quantize_tiles_transposed_impl(const float* x, int64_t rows, int64_t cols, int64_t ldx,
                                    uint8_t* q, float* scales, const Fp8QuantizeOptions& opt,
                                    std::atomic<bool>& bad) {
  constexpr int64_t kChunk = 64;
  const int64_t nt = fp8_tiles(rows), nchunks = (cols + kChunk - 1) / kChunk;
#pragma omp parallel for collapse(2) schedule(static) if (rows * cols >= kParallelElements)
  for (int64_t t = 0; t < nt; ++t) {
    for (int64_t ch = 0; ch < nchunks; ++ch) {
      const int64_t r0 = t * kFp8Tile, nr = std::min(kFp8Tile, rows - r0);
      const int64_t c0 = ch * kChunk, nc = std::min(kChunk, cols - c0);
      uint32_t m[kChunk] = {};
      for (int64_t r = r0; r < r0 + nr; ++r)
        for (int64_t c = 0; c < nc; ++c) m[c] = std::max(m[c], abs_bits(x[r * ldx + c0 + c]));
      float s[kChunk];
      bool chunk_bad = false;
      for (int64_t c = 0; c < nc; ++c) {
        chunk_bad |= m[c] >= kNonFinite;
        s[c] = scale_of(std::min(m[c], kNonFinite - 1), opt);
        scales[(c0 + c) * nt + t] = s[c];
      }
      if (chunk_bad) {
        bad.store(true, std::memory_order_relaxed);
        continue;
      }
      for (int64_t r = r0; r < r0 + nr; ++r)
        for (int64_t c = 0; c < nc; ++c)
          q[(c0 + c) * rows + r] = encode<F>(x[r * ldx + c0 + c] / s[c]);
    }
  }
}

template <Fp8Format F>
void quantize_blocks_impl(const float* w, int64_t rows, int64_t cols, int64_t ldw, uint8_t* q,
                          float* scales, const Fp8QuantizeOptions& opt, std::atomic<bool>& bad) {
  const int64_t nbr = fp8_tiles(rows), nbc = fp8_tiles(cols);
#pragma omp parallel for collapse(2) schedule(static) if (rows * cols >= kParallelElements)
  for (int64_t br = 0; br < nbr; ++br) {
    for (int64_t bc = 0; bc < nbc; ++bc) {
      const int64_t r0 = br * kFp8Tile, nr = std::min(kFp8Tile, rows - r0);
      const int64_t c0 = bc * kFp8Tile, nc = std::min(kFp8Tile, cols - c0);
      uint32_t m = 0;
      for (int64_t r = r0; r < r0 + nr; ++r) m = std::max(m, amax_bits(w + r * ldw + c0, nc));
      if (m >= kNonFinite) {
        bad.store(true, std::memory_order_relaxed);
        continue;
      }
      const float s = scale_of(m, opt);
      scales[br * nbc + bc] = s;
      for (int64_t r = r0; r < r0 + nr; ++r) encode_span<F>(w + r * ldw + c0, nc, s, q + r * cols + c0);
    }
  }
}

}  // namespace

void fp8_quantize_tiles(const float* x, int64_t rows, int64_t cols, int64_t ldx, uint8_t* q,
                        float* scales, const Fp8QuantizeOptions& opt, std::string_view name) {
  check_sizes(rows, cols, ldx, name);
  std::atomic<bool> bad{false};
  if (opt.format == Fp8Format::e4m3)
    quantize_tiles_impl<Fp8Format::e4m3>(x, rows, cols, ldx, q, scales, opt, bad);
  else
    quantize_tiles_impl<Fp8Format::e5m2>(x, rows, cols, ldx, q, scales, opt, bad);
  if (bad) throw_non_finite(x, rows, cols, ldx, name);
}

void fp8_quantize_tiles_transposed(const float* x, int64_t rows, int64_t cols, int64_t ldx,
                                   uint8_t* q, float* scales, const Fp8QuantizeOptions& opt,
                                   std::string_view name) {
  check_sizes(rows, cols, ldx, name);
  std::atomic<bool> bad{false};
  if (opt.format == Fp8Format::e4m3)
    quantize_tiles_transposed_impl<Fp8Format::e4m3>(x, rows, cols, ldx, q, scales, opt, bad);
  else
    quantize_tiles_transposed_impl<Fp8Format::e5m2>(x, rows, cols, ldx, q, scales, opt, bad);
  if (bad) throw_non_finite(x, rows, cols, ldx, name);
}

void fp8_quantize_blocks(const float* w, int64_t rows, int64_t cols, int64_t ldw, uint8_t* q,
                         float* scales, const Fp8QuantizeOptions& opt, std::string_view name) {
  check_sizes(rows, cols, ldw, name);
  std::atomic<bool> bad{false};
  if (opt.format == Fp8Format::e4m3)
    quantize_blocks_impl<Fp8Format::e4m3>(w, rows, cols, ldw, q, scales, opt, bad);
  else
    quantize_blocks_impl<Fp8Format::e5m2>(w, rows, cols, ldw, q, scales, opt, bad);
  if (bad) throw_non_finite(w, rows, cols, ldw, name);
}

void fp8_transpose_blocks(const uint8_t* q, const float* scales, int64_t rows, int64_t cols,
                          uint8_t* qt, float* scales_t) {
  SADARI_CHECK(rows >= 0 && cols >= 0, "fp8_transpose_blocks: negative size ", rows, "x", cols);
  constexpr int64_t kB = 32;  // cache blocking of the byte transpose
#pragma omp parallel for collapse(2) schedule(static) if (rows * cols >= kParallelElements)
  for (int64_t r0 = 0; r0 < rows; r0 += kB)
    for (int64_t c0 = 0; c0 < cols; c0 += kB)
      for (int64_t r = r0; r < std::min(rows, r0 + kB); ++r)
        for (int64_t c = c0; c < std::min(cols, c0 + kB); ++c) qt[c * rows + r] = q[r * cols + c];
  const int64_t nbr = fp8_tiles(rows), nbc = fp8_tiles(cols);
  for (int64_t br = 0; br < nbr; ++br)
    for (int64_t bc = 0; bc < nbc; ++bc) scales_t[bc * nbr + br] = scales[br * nbc + bc];
}

void fp8_dequantize(const Fp8View& v, float* out, int64_t ldo) {
  SADARI_CHECK(v.rows >= 0 && v.cols >= 0 && ldo >= v.cols, "fp8_dequantize: bad sizes for ",
               v.name, ": ", v.rows, "x", v.cols, " ldo=", ldo);
  if (v.format == Fp8Format::e4m3)
    dequantize_impl<Fp8Format::e4m3>(v, out, ldo);
  else
    dequantize_impl<Fp8Format::e5m2>(v, out, ldo);
}

std::vector<float> Fp8Matrix::dequantize() const {
  std::vector<float> out(size_t(rows * cols));
  fp8_dequantize(view(), out.data(), cols);
  return out;
}

namespace {

// An Fp8Matrix of the result's shape and tiling, its codes and scales sized
// (the scale count follows from the view's layout), not yet filled.
Fp8Matrix allocated(int64_t rows, int64_t cols, Fp8Tiling tiling, const Fp8QuantizeOptions& opt,
                    std::string name) {
  check_sizes(rows, cols, cols, name);
  Fp8Matrix m{rows, cols, opt.format, tiling, std::move(name), {}, {}};
  m.q.resize(size_t(rows * cols));
  const Fp8View v = m.view();
  m.scales.resize(size_t(v.scale_rows() * v.scale_cols()));
  return m;
}

}  // namespace

Fp8Matrix Fp8Matrix::tiles(const float* x, int64_t rows, int64_t cols,
                           const Fp8QuantizeOptions& opt, std::string name) {
  Fp8Matrix m = allocated(rows, cols, Fp8Tiling::tiles_1x128, opt, std::move(name));
  fp8_quantize_tiles(x, rows, cols, cols, m.q.data(), m.scales.data(), opt, m.name);
  return m;
}

Fp8Matrix Fp8Matrix::tiles_transposed(const float* x, int64_t rows, int64_t cols,
                                      const Fp8QuantizeOptions& opt, std::string name) {
  Fp8Matrix m = allocated(cols, rows, Fp8Tiling::tiles_1x128, opt, std::move(name));
  fp8_quantize_tiles_transposed(x, rows, cols, cols, m.q.data(), m.scales.data(), opt, m.name);
  return m;
}

Fp8Matrix Fp8Matrix::blocks(const float* w, int64_t rows, int64_t cols,
                            const Fp8QuantizeOptions& opt, std::string name) {
  Fp8Matrix m = allocated(rows, cols, Fp8Tiling::blocks_128x128, opt, std::move(name));
  fp8_quantize_blocks(w, rows, cols, cols, m.q.data(), m.scales.data(), opt, m.name);
  return m;
}

Fp8Matrix Fp8Matrix::transposed() const {
  if (tiling != Fp8Tiling::blocks_128x128)
    fail("only 128x128-block FP8 matrices can be transposed without requantising",
         detail::cat("tensor ", name),
         "quantise the transposed data with Fp8Matrix::tiles_transposed instead");
  Fp8Matrix t{cols, rows, format, tiling, name + "^T", {}, {}};
  t.q.resize(q.size());
  t.scales.resize(scales.size());
  fp8_transpose_blocks(q.data(), scales.data(), rows, cols, t.q.data(), t.scales.data());
  return t;
}

}  // namespace sadari::cpu
