// What the cuBLASLt GEMM wrappers (gemm_lt.cu, fp8_gemm_lt.cu) share: the handle
// and workspace, the cached plan of one problem shape and the heuristic query
// that picks its algorithm, within a workspace limit and the operands' pointer
// alignments. Internal to kernels/cuda (includes
// cublasLt.h; include from .cu files only).
#pragma once

#include <cublasLt.h>

#include <cstddef>
#include <cstdint>
#include <optional>

namespace sadari::cuda {

// A cuBLASLt handle and its workspace, on the device current at construction
// (Error when there is no device or no memory). Destruction never throws: a
// sticky device fault is reported by the next checked call with better context;
// cudaFree waits for GEMMs still using the workspace.
struct LtContext {
  explicit LtContext(size_t workspace_bytes);
  ~LtContext();
  LtContext(const LtContext&) = delete;
  LtContext& operator=(const LtContext&) = delete;

  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  int device = 0;
};

// The descriptors and algorithm for one problem. Owns its cuBLASLt objects.
// a, b, c: cuBLASLt's (column-major) A, B and C = D layouts.
struct LtPlan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  LtPlan() = default;
  LtPlan(const LtPlan&) = delete;
  LtPlan& operator=(const LtPlan&) = delete;
  ~LtPlan() {
    // Destroy calls only free host memory; their status carries nothing to act on.
    if (c) cublasLtMatrixLayoutDestroy(c);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (desc) cublasLtMatmulDescDestroy(desc);
  }
};

struct LtAlgorithmQuery {
  cublasLtHandle_t handle = nullptr;
  cublasLtMatmulDesc_t desc = nullptr;
  // Layouts of cuBLASLt's A, B, C and D slots (C may be D's).
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr, d = nullptr;
  size_t workspace_bytes = 0;
  // Guaranteed alignment in bytes of the pointers in the A, B, C and D slots.
  uint32_t align_a = 0, align_b = 0, align_c = 0, align_d = 0;
};

struct LtAlgorithm {
  std::optional<cublasLtMatmulAlgo_t> algo;  // empty: cuBLASLt offers none
  cublasStatus_t status = CUBLAS_STATUS_SUCCESS;  // the heuristic's own status
  int results = 0;
};

// Asks cuBLASLt's heuristic for the best algorithm. "None" (NOT_SUPPORTED, zero
// results or a result whose state is not SUCCESS) comes back as an empty algo, so
// the caller can name its problem in the error; any other failure throws Error.
LtAlgorithm best_lt_algorithm(const LtAlgorithmQuery& q);

}  // namespace sadari::cuda
