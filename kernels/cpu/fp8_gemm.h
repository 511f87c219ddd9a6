// FP8 GEMM with fine-grained scales on the host (the reference the CUDA kernels
// are checked against, and fast enough for CPU training tests).
//
// Definition ("NT": both operands K-major, as kernels/cpu/fp8_quantize.h lays them
// out): A is [M, K], B is [N, K], both quantised along K (each either 1x128 tiles or
// 128x128 blocks, any combination, any of the two formats), and
//   C[m][n] = beta * C[m][n]
//           + sum over K blocks b of  sA(m, b) * sB(n, b) * sum_{k in b} qA[m][k] qB[n][k]
// where qA, qB are the decoded FP8 values, sA(m, b) the scale of A's tile holding
// row m and block b, sB likewise, and the K blocks are [128b, min(128b+128, K)).
// This is DeepSeek-V3's scheme: products of FP8 values accumulated per 128 of K,
// scaled and promoted to fp32.
//
// Implementation, and how exactly it meets the definition: A and B are dequantised
// tile by tile into fp32 buffers (decode(q) * scale: exact when the scale is a
// power of two and the result normal, otherwise one fp32 rounding, relative error
// <= 2^-24), then multiplied by cpu::gemm (OpenBLAS sgemm, fp32 accumulation, its
// deterministic tiling: the same bits for any thread count). Since
// (qA sA)(qB sB) = sA sB qA qB, the result equals the definition up to that one
// rounding per operand element and the order of the fp32 summation; with
// power-of-two scales it equals it up to the summation order alone. Accuracy bound
// (tested against a double-precision evaluation of the definition):
//   |C - C_def| <= (K + 2) * 2^-24 * sum_k |a_k b_k|   (plus beta's own rounding).
// The CUDA kernels promote each 128-block partial sum instead: the same
// definition, another fp32 summation order.
//
// Errors: A.cols != B.cols, or C's leading dimension below N: Error naming both
// tensors. A scale that is NaN, infinite, zero or negative (a corrupted or
// overflowed scale): Error naming the tensor and the tile. Nothing is written then.
// Memory: the two fp32 buffers are thread-local scratch kept between calls (one
// set per calling thread, grown to the largest product seen).
// Threads: OpenMP inside (dequantisation and cpu::gemm's tiles); called inside a
// parallel region it runs on the calling thread. Reentrant.
#pragma once

#include <cstdint>

#include "kernels/cpu/fp8_quantize.h"

namespace sadari::cpu {

// C[M][N] (row stride ldc) = beta * C + A . B^T as defined above, M = A.rows,
// N = B.rows, K = A.cols = B.cols. beta = 0 overwrites C (NaNs in C do not survive).
void fp8_gemm_nt(const Fp8View& A, const Fp8View& B, float* C, int64_t ldc, float beta = 0.0f);

// Checks that every scale of v is finite and > 0; Error naming v.name and the tile
// otherwise. fp8_gemm_nt calls it on both operands.
void fp8_check_scales(const Fp8View& v);

}  // namespace sadari::cpu
