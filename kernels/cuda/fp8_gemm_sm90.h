// sadari's own FP8 GEMM for Hopper (sm_90a): D = A . B^T with DeepSeek-V3's
// fine-grained scales, dense and MoE-grouped. The math is cpu::fp8_gemm_nt's
// (kernels/cpu/fp8_gemm.h); the CPU version is the reference the tests compare with.
//
// Operands (the device-side convention shared by every FP8 GEMM in sadari; the CPU
// Fp8View layouts, so no prepare step is needed):
//   A codes  uint8 E4M3 row-major [M][K] (K contiguous);  A scales f32 [M][K/128]
//            (1x128 tiles: one scale per row per 128 of K).
//   B codes  uint8 E4M3 row-major [N][K];                 B scales f32
//            [ceil(N/128)][K/128] (128x128 blocks; the last block row may be partial).
//   D        row-major [M][N], ld = N, bf16 (uint16 bit patterns, round to nearest
//            even) or f32.
//   D[m][n] = sum_kb sA[m][kb] * sB[n/128][kb] * sum_{k in kb} qA[m][k] qB[n][k].
//
// Grouped (MoE, contiguous per-expert layout): the rows of all experts' A are
// concatenated, expert e owning rows [offsets[e], offsets[e+1]); every offset is a
// multiple of 128 (each expert's row count padded to 128), so a 128-row tile never
// straddles two experts. B holds all experts' weights: codes [E][N][K], scales
// [E][ceil(N/128)][K/128]. D rows follow A's:
//   D[offsets[e] + r] = A[offsets[e] + r] . B[e]^T.
// Padding rows are computed like any other row (their output is whatever their A
// codes give; zero codes give zeros).
//
// Requirements (checked on the host BEFORE any device call; a violation throws
// sadari::Error naming the argument, the value and what to do):
//   - K a positive multiple of 128.
//   - N positive and even. A multiple of 128 is fastest: a partial last N block
//     computes 128 columns and stores fewer.
//   - Dense: M >= 0, any (a partial last M block likewise). Grouped: every expert's
//     row count a multiple of 128, offsets[0] == 0 and non-decreasing,
//     1 <= E <= kFp8Sm90MaxExperts. M == 0 (or all experts empty) is a no-op.
//   - Pointers non-null when there is work; A and B codes 16-byte aligned (TMA),
//     scales 4-byte, D 8-byte (f32) or 4-byte (bf16) aligned. Rows are dense: K
//     bytes from one row of A or B to the next, N elements in D.
//   - d_type bf16 or f32; M, E * N, K and the tile count below 2^31.
//   - The current device of compute capability 9.0 (H100/H200/H800: the code is
//     sm_90a SASS only); another device gives an Error (checked at the call).
//
// Design (why each part is there):
//   - Tiles of 128 x 128 outputs, K walked in blocks of 128 (BLOCK_M = BLOCK_N =
//     BLOCK_K = 128): one K block is exactly one scale of A per row and one of B.
//     Rows of A or B past the end of the tensor are zero-filled by TMA; outputs
//     past M or N are not stored.
//   - TMA (cp.async.bulk.tensor.2d) copies each 128 x 128-byte tile of A and B into
//     shared memory with the 128-byte swizzle that wgmma's K-major operand layout
//     expects; the tensor maps are encoded on the host by cuTensorMapEncodeTiled and
//     passed as __grid_constant__ kernel parameters. The driver entry point is
//     fetched through cudaGetDriverEntryPointByVersion, so nothing links -lcuda.
//   - A ring of 6 shared-memory stages (32 KiB each, 193 KiB in all) with two
//     mbarriers per stage: "full" (the producer's expect_tx + the TMA bytes) and
//     "empty" (one arrival per consumer warp once its wgmma has read the stage).
//   - One producer warp (one elected thread issues the TMA copies) and two consumer
//     warpgroups; each consumer warpgroup owns 64 of the tile's 128 rows and issues
//     wgmma.mma_async m64n128k32 .f32.e4m3.e4m3 four times per K block, both
//     operands from shared memory.
//   - Promotion every 128 of K (DeepSeek-V3): the tensor cores' FP8 accumulation is
//     not full fp32, so each K block's wgmma sum starts from zero and is then scaled
//     by sA[m][kb] * sB[n/128][kb] and added to a separate fp32 accumulator in
//     registers. The scales are read from global memory by the consumer threads
//     (2 of A and 1 of B per thread per K block), issued before the wait so their
//     latency hides behind the TMA and the wgmma.
//   - Persistent grid: min(#SMs, #tiles) CTAs, each walking tiles t = blockIdx.x,
//     blockIdx.x + gridDim.x, ... (M-block fastest, so consecutive CTAs share a B
//     block). The stage ring runs on across tiles, so the producer loads the next
//     tile while the consumers store this one.
//   - Epilogue: registers -> global directly (2 adjacent columns per store).
//   Two kernel instantiations in all (bf16 and f32 output); dense is the grouped
//   kernel with one expert.
//
// Streams and threads: work is enqueued on `stream` (nullptr: the legacy default
// stream) on the current device and the call returns without waiting. Reentrant;
// no state is kept between calls besides a per-process cache of the driver entry
// point. Results are deterministic (fixed summation order, no atomics).
//
// Accuracy: within a K block the products are summed by the tensor cores (Hopper's
// FP8 accumulation keeps about 14 bits, DeepSeek-V3 sec. 3.3.2); across blocks in
// fp32. The tests state the bound they check.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"

namespace sadari::cuda {

inline constexpr int64_t kFp8Sm90Block = 128;      // M, N, K granularity
inline constexpr int64_t kFp8Sm90MaxExperts = 512;  // offsets travel as a kernel parameter

// Dense: D[M][N] = A[M][K] . B[N][K]^T (see above for layouts and requirements).
void fp8_gemm_sm90_nt(const uint8_t* a, const float* a_scales, const uint8_t* b,
                      const float* b_scales, void* d, DType d_type, int64_t M, int64_t N,
                      int64_t K, cudaStream_t stream);

// Grouped: `row_offsets` is a HOST array of num_experts + 1 entries (the total row
// count M = row_offsets[num_experts]); b and b_scales hold num_experts experts.
void fp8_gemm_sm90_grouped_nt(const uint8_t* a, const float* a_scales, const uint8_t* b,
                              const float* b_scales, void* d, DType d_type,
                              const int64_t* row_offsets, int64_t num_experts, int64_t N,
                              int64_t K, cudaStream_t stream);

}  // namespace sadari::cuda
