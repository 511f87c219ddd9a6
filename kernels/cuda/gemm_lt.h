// Dense GEMM on the GPU through cuBLASLt, with the row-major contract of
// kernels/cpu/gemm.h:
//   C[M,N] = alpha * op(A) * op(B) + beta * C,  op(A): [M,K], op(B): [K,N],
//   lda/ldb/ldc the row strides of the stored (untransposed) row-major matrices.
//
// Types: A and B are both f32 or both bf16 (bf16 stored as uint16_t bit patterns);
// C is f32, or bf16 when A and B are bf16. Products are accumulated in f32 (with
// f32 inputs exactly f32, not TF32, unless allow_tf32). alpha and beta are host
// floats. With beta == 0, C is not read (it may hold NaN).
//
// Why a class: cuBLASLt needs a handle, a workspace and, per problem shape, a
// matmul descriptor, four layouts and a heuristic query that costs far more than a
// small GEMM. A GemmLt builds these once per distinct (shapes, strides, types,
// operand alignment) and reuses them; a training step repeats the same few shapes.
//
// Ownership and threads: a GemmLt owns its handle, workspace and cached plans and
// frees them on destruction (after synchronising its device, so no GEMM still
// uses the workspace). It is bound to the device current at construction; calls
// must run with that device current. Not thread-safe; and since every call uses
// the one workspace, all calls on one GemmLt must be stream-ordered (the same
// stream, or streams the caller synchronises) - use one GemmLt per stream.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/dtype.h"

namespace sadari::cuda {

class GemmLt {
 public:
  // 32 MiB: NVIDIA's recommended cuBLASLt workspace for Hopper; smaller workspaces
  // exclude the split-K and stream-K kernels that small-M shapes need.
  static constexpr size_t kDefaultWorkspaceBytes = size_t(32) << 20;

  // Creates the cuBLASLt handle and allocates the workspace on the current device.
  // Throws Error when there is no device or no memory.
  explicit GemmLt(size_t workspace_bytes = kDefaultWorkspaceBytes, bool allow_tf32 = false);
  ~GemmLt();
  GemmLt(const GemmLt&) = delete;
  GemmLt& operator=(const GemmLt&) = delete;

  // Enqueues the GEMM on `stream`. REQUIRES: M, N, K >= 0; each ld at least the
  // stored row length (checked only for operands that are read, as cpu::gemm);
  // device pointers on this GemmLt's device; C does not overlap A or B. K == 0
  // gives C = beta * C. Throws Error for unsupported types or bad strides, or when
  // cuBLASLt offers no algorithm for the problem.
  void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
            const void* A, int64_t lda, const void* B, int64_t ldb, float beta, void* C,
            int64_t ldc, DType ab_type, DType c_type, cudaStream_t stream);

  // Packed f32 operands (ld implied by the shapes), as cpu::matmul.
  void matmul(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A,
              const float* B, float* C, cudaStream_t stream, float beta = 0.f);

  // Number of cached plans (for tests and diagnostics).
  size_t cached_plans() const;

 private:
  struct Impl;  // cuBLASLt types stay out of this header
  std::unique_ptr<Impl> impl_;
};

}  // namespace sadari::cuda
