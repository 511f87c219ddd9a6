// FP8 GEMM with fine-grained (DeepSeek-V3) scales through cuBLASLt's block-scaled
// matmul on Hopper (CUDA >= 12.9: CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F for the
// activations, ..._BLK128x128_32F for the weights). It is the vendor baseline that
// sadari's own sm_90a kernel (fp8_gemm_sm90.h) is measured and checked against.
//
// Math: exactly kernels/cpu/fp8_gemm.h's fp8_gemm_nt with A tiled 1x128 and B in
// 128x128 blocks (the reference the tests compare with):
//   D[m][n] = sum_kb sA[m][kb] * sB[n/128][kb] * sum_{k in kb} qA[m][k] qB[n][k]
// A: e4m3 codes, row-major [M][K]; B: e4m3 codes, row-major [N][K] (the weight
// [out, in], y = x W^T); D: row-major [M][N] (ld = N), bf16 (uint16 bit patterns)
// or f32. Accumulation is f32, promoted per 128 of K by cuBLASLt; the summation
// order differs from the CPU's (see the test for the stated bound).
//
// SHAPES: M, N and K must be multiples of 128 (M may be 0); anything else throws
// Error before the device is touched. (cuBLASLt itself needs only M, N % 4 == 0 for
// the scale tensors and 16-byte aligned rows; 128 is what sadari's kernels and the
// MoE padding use, and the only shapes the tests check.)
//
// SCALE LAYOUTS. The CPU layout (kernels/cpu/fp8_quantize.h, and cuda_common's
// device convention) is row-major: A scales [M][L], B scales [ceil(N/128)][L],
// L = ceil(K/128). cuBLASLt wants other layouts. Source: the cuBLAS documentation
// (CUDA 12.9 and 13.0), cuBLASLt API, section "128-element 1D and 128x128 2D Block
// Scaling For FP8 Data Types", subsection "Scaling factors layouts":
//   - "Starting addresses of scaling factors must be 16B aligned."
//   - "M and N must be multiples of 4."
//   - VEC128_32F: scales "M-major for A with shape M x L, N-major for B with shape
//     N x L" (the M, resp. N, index is the contiguous one).
//   - BLK128x128_32F: scales "K-major and the stride between the consecutive columns
//     must be a multiple of 4"; L4 = L rounded up to a multiple of 4; for A the shape
//     is L4 x ceil(M/128), for B L4 x ceil(N/128).
//   - A=VEC128 with B=BLK128x128 and the reverse are supported, both BLK128x128 not.
// Those "A" and "B" are cuBLASLt's (column-major, D = op(A) op(B)). We compute our
// row-major D[M,N] = A B^T as cuBLASLt's column-major D^T[N,M] = B A^T: cuBLASLt's A
// is OUR B (weights, transa = T, BLK128x128) and its B is OUR A (activations,
// transb = N, VEC128) - "TN", the only FP8 layout cuBLASLt supports on Hopper. So:
//   our A's scales, cuBLASLt layout: [L][M] row-major, element (m, kb) at kb*M + m
//     (the transpose of the CPU layout);
//   our B's scales, cuBLASLt layout: [ceil(N/128)][L4] row-major, element (nb, kb) at
//     nb*L4 + kb (the CPU layout with each row padded from L to L4 floats; identical
//     to it when L % 4 == 0).
// The same reading is what NVIDIA Transformer Engine's "GEMM_READY" block-scaled
// tensors and PyTorch's blockwise scaled_mm checks use (1x128 scales "outer-dim-major",
// 128x128 scales inner-dim-major with 16-byte aligned strides).
// fp8_lt_prepare_* below convert CPU-layout scales on the device (a small kernel,
// run once per operand: once per weight update for B, per forward for A - a real
// pipeline's quantiser would write the cuBLASLt layout directly). The GEMM timing in
// the bench excludes them.
//
// Grouped (MoE) layout: E experts; expert e owns rows [r_e, r_e + m_e) of A and D
// (r_e = m_0 + ... + m_{e-1}; each m_e a multiple of 128, possibly 0: rows of each
// expert padded to 128 by the dispatcher); B is [E][N][K] with per-expert 128x128
// scales [E][ceil(N/128)][L] (CPU layout). Prepared A scales: expert e's [L][m_e]
// block starts at float offset r_e * L (so the total size is still M * L); prepared
// B scales: [E][ceil(N/128)][L4]. It runs one cuBLASLt matmul per non-empty expert
// (the baseline the custom grouped kernel is measured against).
//
// Ownership, threads, streams: as GemmLt (gemm_lt.h): an Fp8GemmLt owns its handle,
// a 32 MiB workspace and cached plans (one per (M, N, K, D type, operand alignment));
// it is bound to the device current at construction; not thread-safe; all calls on
// one object must be stream-ordered. Pointers are device pointers on that device;
// D does not overlap the inputs. Work is enqueued on `stream`; nothing synchronises.
// Errors: bad shapes, types, null or misaligned pointers throw Error before any
// device work; cuBLASLt failures (including "no algorithm", e.g. on a non-Hopper GPU)
// throw Error naming the problem.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "core/dtype.h"

namespace sadari::cuda {

// Floats in the cuBLASLt-layout scale buffers (see above).
int64_t fp8_lt_act_scales_size(int64_t M, int64_t K);                // M * L
int64_t fp8_lt_weight_scales_size(int64_t E, int64_t N, int64_t K);  // E * ceil(N/128) * L4

// src: CPU layout [M][L]; dst: [L][M] (fp8_lt_act_scales_size floats, 16-byte aligned).
// REQUIRES M % 128 == 0, K % 128 == 0, K > 0 (checked before any launch).
void fp8_lt_prepare_act_scales(const float* src, int64_t M, int64_t K, float* dst,
                               cudaStream_t stream);
// Grouped: src CPU layout [M][L] with M = sum rows_per_expert; dst per expert as
// described above. REQUIRES every rows_per_expert[e] % 128 == 0 and >= 0.
void fp8_lt_prepare_act_scales_grouped(const float* src, std::span<const int64_t> rows_per_expert,
                                       int64_t K, float* dst, cudaStream_t stream);
// src: CPU layout [E][ceil(N/128)][L]; dst: [E][ceil(N/128)][L4], the padding
// columns zero. REQUIRES E >= 1, N % 128 == 0, K % 128 == 0, N, K > 0.
void fp8_lt_prepare_weight_scales(const float* src, int64_t E, int64_t N, int64_t K, float* dst,
                                  cudaStream_t stream);

class Fp8GemmLt {
 public:
  static constexpr size_t kDefaultWorkspaceBytes = size_t(32) << 20;

  // Creates the cuBLASLt handle and workspace on the current device. Throws Error
  // when there is no device, no memory, or the cuBLASLt library is older than 12.9.
  explicit Fp8GemmLt(size_t workspace_bytes = kDefaultWorkspaceBytes);
  ~Fp8GemmLt();
  Fp8GemmLt(const Fp8GemmLt&) = delete;
  Fp8GemmLt& operator=(const Fp8GemmLt&) = delete;

  // D[M][N] = A . B^T as above. a_scales / b_scales in cuBLASLt layout (from
  // fp8_lt_prepare_act_scales / fp8_lt_prepare_weight_scales with E = 1). A, B and D
  // must be 16-byte aligned, the scales too. M == 0 does nothing.
  void gemm_nt(int64_t M, int64_t N, int64_t K, const uint8_t* A, const float* a_scales,
               const uint8_t* B, const float* b_scales, void* D, DType d_type,
               cudaStream_t stream);

  // Grouped: one gemm_nt per non-empty expert on the slices described above.
  // rows_per_expert is on the host (the per-expert loop needs it there).
  void grouped_nt(std::span<const int64_t> rows_per_expert, int64_t N, int64_t K,
                  const uint8_t* A, const float* a_scales, const uint8_t* B,
                  const float* b_scales, void* D, DType d_type, cudaStream_t stream);

  // The shape and type rules of gemm_nt / grouped_nt, callable without a device:
  // throws the same Error the calls would.
  static void check_shape(int64_t M, int64_t N, int64_t K, DType d_type);
  static void check_grouped_shape(std::span<const int64_t> rows_per_expert, int64_t N,
                                  int64_t K, DType d_type);

  size_t cached_plans() const;

 private:
  struct Impl;  // cuBLASLt types stay out of this header
  std::unique_ptr<Impl> impl_;
};

}  // namespace sadari::cuda
