#include "kernels/cuda/lt_algorithm.h"

#include "kernels/cuda/device.h"

namespace sadari::cuda {

LtContext::LtContext(size_t bytes) : workspace_bytes(bytes) {
  SADARI_CUDA_CHECK(cudaGetDevice(&device));
  SADARI_CUBLAS_CHECK(cublasLtCreate(&handle));
  if (bytes) {
    const cudaError_t status = cudaMalloc(&workspace, bytes);
    if (status != cudaSuccess) {
      cublasLtDestroy(handle);
      SADARI_CUDA_CHECK(status);
    }
  }
}

LtContext::~LtContext() {
  if (workspace) (void)cudaFree(workspace);
  if (handle) (void)cublasLtDestroy(handle);
  (void)cudaGetLastError();
}

LtAlgorithm best_lt_algorithm(const LtAlgorithmQuery& q) {
  cublasLtMatmulPreference_t pref = nullptr;
  SADARI_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  // The preference is needed only for the query; free it on every path out.
  struct PrefGuard {
    cublasLtMatmulPreference_t p;
    ~PrefGuard() { cublasLtMatmulPreferenceDestroy(p); }
  } guard{pref};
  const uint64_t ws = q.workspace_bytes;
  SADARI_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
  const uint32_t aligns[4] = {q.align_a, q.align_b, q.align_c, q.align_d};
  const cublasLtMatmulPreferenceAttributes_t align_attrs[4] = {
      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
  for (int i = 0; i < 4; ++i)
    SADARI_CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(pref, align_attrs[i], &aligns[i], sizeof(uint32_t)));

  cublasLtMatmulHeuristicResult_t result{};
  LtAlgorithm out;
  out.status = cublasLtMatmulAlgoGetHeuristic(q.handle, q.desc, q.a, q.b, q.c, q.d, pref, 1,
                                              &result, &out.results);
  // An unsupported combination (wrong GPU, old library) comes back either as
  // NOT_SUPPORTED or as zero results: both are "none", for the caller to explain.
  if (out.status != CUBLAS_STATUS_SUCCESS && out.status != CUBLAS_STATUS_NOT_SUPPORTED)
    SADARI_CUBLAS_CHECK(out.status);
  if (out.status == CUBLAS_STATUS_SUCCESS && out.results > 0 &&
      result.state == CUBLAS_STATUS_SUCCESS)
    out.algo = result.algo;
  return out;
}

}  // namespace sadari::cuda
