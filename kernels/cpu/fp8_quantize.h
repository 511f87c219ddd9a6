// Fine-grained FP8 quantisation on the host (DeepSeek-V3's scheme): every tile of
// a matrix has its own fp32 scale, so one outlier only coarsens its own tile.
//
// Layout convention (the one the FP8 GEMM in kernels/cpu/fp8_gemm.h expects):
// matrices are row-major and quantised along their rows, i.e. along the
// contraction dimension K of the GEMM they feed, which is contiguous ("K-major",
// as FP8 tensor cores want both operands). Two tilings:
//   Fp8Tiling::tiles_1x128    activations: a tile is 1 row x 128 columns;
//                             scales[rows][ceil(cols/128)].
//   Fp8Tiling::blocks_128x128 weights: a tile is 128 x 128;
//                             scales[ceil(rows/128)][ceil(cols/128)].
// Weights are stored [out, in] = [N, K] (model/linear.h's convention, y = x W^T), so
// y = x W^T is the GEMM of x (1x128) and W (128x128) directly.
// Dimensions that are not multiples of 128 are fine: the last tile of a row or
// column is partial (min(128, remaining) wide) and has its own scale.
//
// Per tile: scale = fp8_scale_from_amax(max |x| over the tile) (core/fp8.h: amax/448
// for E4M3, amax == 0 gives 1, optionally rounded UP to a power of two), then
// q = fp8_encode(x / scale, satfinite), so x ~= decode(q) * scale. Without
// power-of-two rounding the tile's max-abs element gets the largest finite code
// (x / scale can exceed fp8 max by one float rounding only, far below the format's
// rounding threshold); nothing saturates. Codes are stored as uint8 in the
// format's encoding (core/fp8.h).
//
// The backward GEMMs need other tilings of the same data (see fp8_linear.h):
//   Dgrad dx = dy W: W^T as a 128x128-block matrix [K, N]. A 128x128 grid is
//     symmetric, so fp8_transpose_blocks transposes codes and scale grid exactly
//     (no requantisation).
//   Wgrad dW = dy^T x: dy^T and x^T, quantised 1x128 along the token dimension:
//     fp8_quantize_tiles_transposed reads x[tokens, K] and writes q = x^T [K, tokens]
//     with scales[K][ceil(tokens/128)].
//
// Errors: a non-finite input (NaN, +-inf) throws Error naming the tensor (the
// `name` argument) and the element's position; nothing is written then beyond
// possibly partial output. Bad sizes (negative, ld < cols) throw Error.
// Threads: parallel over tiles with OpenMP (inside a parallel region: serial); the
// result does not depend on the thread count. Reentrant.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/fp8.h"

namespace sadari::cpu {

inline constexpr int64_t kFp8Tile = 128;

enum class Fp8Tiling : uint8_t { tiles_1x128, blocks_128x128 };

inline int64_t fp8_tiles(int64_t n) { return (n + kFp8Tile - 1) / kFp8Tile; }

struct Fp8QuantizeOptions {
  Fp8Format format = Fp8Format::e4m3;
  bool pow2_scales = false;  // scales rounded up to powers of two
};

// A read-only view of a quantised matrix: codes q[rows][cols] (dense row-major)
// and its scales in `tiling`'s layout. `name` is used in error messages.
struct Fp8View {
  const uint8_t* q = nullptr;
  const float* scales = nullptr;
  int64_t rows = 0, cols = 0;
  Fp8Format format = Fp8Format::e4m3;
  Fp8Tiling tiling = Fp8Tiling::tiles_1x128;
  std::string_view name;

  int64_t scale_rows() const {
    return tiling == Fp8Tiling::tiles_1x128 ? rows : fp8_tiles(rows);
  }
  int64_t scale_cols() const { return fp8_tiles(cols); }
  // The scale of element (r, c).
  float scale_at(int64_t r, int64_t c) const {
    const int64_t sr = tiling == Fp8Tiling::tiles_1x128 ? r : r / kFp8Tile;
    return scales[sr * scale_cols() + c / kFp8Tile];
  }
};

// x[rows][cols] (row stride ldx) -> q[rows][cols], scales[rows][ceil(cols/128)].
void fp8_quantize_tiles(const float* x, int64_t rows, int64_t cols, int64_t ldx, uint8_t* q,
                        float* scales, const Fp8QuantizeOptions& opt, std::string_view name);

// x[rows][cols] (row stride ldx) -> q = x^T [cols][rows] quantised 1x128 along
// `rows`: scales[cols][ceil(rows/128)]. Equal to transposing x, then
// fp8_quantize_tiles.
void fp8_quantize_tiles_transposed(const float* x, int64_t rows, int64_t cols, int64_t ldx,
                                   uint8_t* q, float* scales, const Fp8QuantizeOptions& opt,
                                   std::string_view name);

// w[rows][cols] (row stride ldw) -> q[rows][cols], scales[ceil(rows/128)][ceil(cols/128)].
void fp8_quantize_blocks(const float* w, int64_t rows, int64_t cols, int64_t ldw, uint8_t* q,
                         float* scales, const Fp8QuantizeOptions& opt, std::string_view name);

// The exact transpose of a 128x128-block matrix [rows][cols]: qt[cols][rows],
// scales_t[ceil(cols/128)][ceil(rows/128)].
void fp8_transpose_blocks(const uint8_t* q, const float* scales, int64_t rows, int64_t cols,
                          uint8_t* qt, float* scales_t);

// out[r][c] = decode(q[r][c]) * scale_at(r, c), one fp32 rounding (none when the
// scale is a power of two and the result is a normal float). Row stride ldo.
void fp8_dequantize(const Fp8View& v, float* out, int64_t ldo);

// Owning convenience: codes and scales in vectors, with the factories above.
struct Fp8Matrix {
  int64_t rows = 0, cols = 0;
  Fp8Format format = Fp8Format::e4m3;
  Fp8Tiling tiling = Fp8Tiling::tiles_1x128;
  std::string name;
  std::vector<uint8_t> q;
  std::vector<float> scales;

  Fp8View view() const { return {q.data(), scales.data(), rows, cols, format, tiling, name}; }
  std::vector<float> dequantize() const;

  // x[rows][cols], dense. See fp8_quantize_tiles.
  static Fp8Matrix tiles(const float* x, int64_t rows, int64_t cols,
                         const Fp8QuantizeOptions& opt, std::string name);
  // x[rows][cols], dense -> x^T [cols][rows]. See fp8_quantize_tiles_transposed.
  static Fp8Matrix tiles_transposed(const float* x, int64_t rows, int64_t cols,
                                    const Fp8QuantizeOptions& opt, std::string name);
  // w[rows][cols], dense. See fp8_quantize_blocks.
  static Fp8Matrix blocks(const float* w, int64_t rows, int64_t cols,
                          const Fp8QuantizeOptions& opt, std::string name);
  // REQUIRES tiling == blocks_128x128 (Error otherwise). Named name + "^T".
  Fp8Matrix transposed() const;
};

}  // namespace sadari::cpu
