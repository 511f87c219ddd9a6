#include "kernels/cuda/fp8_gemm_lt.h"

#include <cublasLt.h>

#include <algorithm>
#include <map>
#include <string>
#include <tuple>

#include "core/error.h"
#include "kernels/cuda/device.h"
#include "kernels/cuda/lt_algorithm.h"

namespace sadari::cuda {

namespace {

constexpr int64_t kTile = 128;
constexpr const char* kWhere = "cuda::Fp8GemmLt";

int64_t k_blocks(int64_t K) { return (K + kTile - 1) / kTile; }
int64_t round_up4(int64_t n) { return (n + 3) / 4 * 4; }

// As GemmLt: promise cuBLASLt exactly the alignment each pointer has (capped at the
// 256 bytes it assumes by default), and key plans by it.
uint32_t alignment_of(const void* p) {
  const auto address = reinterpret_cast<uintptr_t>(p);
  if (address == 0) return 256;
  return static_cast<uint32_t>(std::min<uintptr_t>(address & (~address + 1), 256));
}

void check_pointer(const void* p, const char* name) {
  SADARI_CHECK(p != nullptr, "cuda::Fp8GemmLt: ", name, " is null");
  // cuBLASLt's FP8 kernels load 16-byte vectors, and its docs require the scale
  // tensors to start 16-byte aligned; a misaligned pointer would only surface as
  // "no algorithm" or a fault, so say it here.
  if (reinterpret_cast<uintptr_t>(p) % 16 != 0)
    fail(detail::cat(name, " = ", p, " is not 16-byte aligned"), kWhere,
         "allocate with cudaMalloc and offset by multiples of 16 bytes");
}

void check_k(int64_t K) {
  if (K <= 0 || K % kTile != 0)
    fail(detail::cat("K=", K, " is not a positive multiple of 128"), kWhere,
         "pad the contraction dimension to a multiple of 128 (zero codes add nothing)");
}

void check_n(int64_t N) {
  if (N <= 0 || N % kTile != 0)
    fail(detail::cat("N=", N, " is not a positive multiple of 128"), kWhere,
         "pad the weight's output rows to a multiple of 128");
}

// expert < 0: a plain GEMM's M; otherwise the row count of that expert.
void check_m(int64_t M, int64_t expert = -1) {
  if (M < 0 || M % kTile != 0)
    fail(detail::cat(expert < 0 ? std::string("M") : detail::cat("rows of expert ", expert), "=",
                     M, " is not a non-negative multiple of 128"),
         kWhere, "pad the activation rows (tokens) of each GEMM or expert to a multiple of 128");
}

// Everything the chosen algorithm depends on.
struct PlanKey {
  int64_t M, N, K;
  DType d_type;
  uint32_t align_a, align_b, align_d;
  auto tie() const { return std::tie(M, N, K, d_type, align_a, align_b, align_d); }
  bool operator<(const PlanKey& o) const { return tie() < o.tie(); }
};

// The scale pointers live in the matmul descriptor; they change per call (per
// expert in the grouped case) while the rest of the plan stays, so they are set
// just before each cublasLtMatmul. cuBLASLt reads the descriptor during that call.
void set_scale_pointers(cublasLtMatmulDesc_t desc, const float* weight_scales,
                        const float* act_scales) {
  const void* a = weight_scales;  // cuBLASLt's A is our B (the weights)
  const void* b = act_scales;     // cuBLASLt's B is our A (the activations)
  SADARI_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &a, sizeof(a)));
  SADARI_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &b, sizeof(b)));
}

__global__ void transpose_scales_kernel(const float* __restrict__ src, int64_t M, int64_t L,
                                        float* __restrict__ dst) {
  const int64_t n = M * L;
  // Writes are coalesced (dst index i); the reads stride by L floats, harmless for
  // a buffer of M * K / 128 floats.
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t kb = i / M, m = i - kb * M;
    dst[i] = src[m * L + kb];
  }
}

__global__ void pad_scales_kernel(const float* __restrict__ src, int64_t rows, int64_t L,
                                  int64_t L4, float* __restrict__ dst) {
  const int64_t n = rows * L4;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / L4, kb = i - r * L4;
    dst[i] = kb < L ? src[r * L + kb] : 0.f;
  }
}

constexpr int kThreads = 256;
unsigned blocks_for(int64_t n) {
  return static_cast<unsigned>(std::clamp<int64_t>((n + kThreads - 1) / kThreads, 1, 1 << 16));
}

}  // namespace

int64_t fp8_lt_act_scales_size(int64_t M, int64_t K) { return M * k_blocks(K); }

int64_t fp8_lt_weight_scales_size(int64_t E, int64_t N, int64_t K) {
  return E * k_blocks(N) * round_up4(k_blocks(K));
}

void fp8_lt_prepare_act_scales(const float* src, int64_t M, int64_t K, float* dst,
                               cudaStream_t stream) {
  check_m(M);
  check_k(K);
  if (M == 0) return;
  check_pointer(src, "activation scales (CPU layout)");
  check_pointer(dst, "activation scales (cuBLASLt layout)");
  const int64_t L = k_blocks(K);
  transpose_scales_kernel<<<blocks_for(M * L), kThreads, 0, stream>>>(src, M, L, dst);
  SADARI_CUDA_CHECK_LAUNCH();
}

void fp8_lt_prepare_act_scales_grouped(const float* src, std::span<const int64_t> rows_per_expert,
                                       int64_t K, float* dst, cudaStream_t stream) {
  check_k(K);
  for (size_t e = 0; e < rows_per_expert.size(); ++e)
    check_m(rows_per_expert[e], int64_t(e));
  const int64_t L = k_blocks(K);
  int64_t row = 0;
  for (const int64_t m : rows_per_expert) {
    if (m > 0) {
      // Expert blocks start at row * L floats: row is a multiple of 128, so each
      // block stays 16-byte aligned as cuBLASLt requires.
      fp8_lt_prepare_act_scales(src + row * L, m, K, dst + row * L, stream);
    }
    row += m;
  }
}

void fp8_lt_prepare_weight_scales(const float* src, int64_t E, int64_t N, int64_t K, float* dst,
                                  cudaStream_t stream) {
  SADARI_CHECK(E >= 1, "cuda::Fp8GemmLt: expert count E=", E, " must be at least 1");
  check_n(N);
  check_k(K);
  check_pointer(src, "weight scales (CPU layout)");
  check_pointer(dst, "weight scales (cuBLASLt layout)");
  const int64_t L = k_blocks(K), rows = E * k_blocks(N);
  pad_scales_kernel<<<blocks_for(rows * round_up4(L)), kThreads, 0, stream>>>(src, rows, L,
                                                                              round_up4(L), dst);
  SADARI_CUDA_CHECK_LAUNCH();
}

struct Fp8GemmLt::Impl {
  explicit Impl(size_t workspace_bytes) : lt(workspace_bytes) {}

  LtContext lt;  // first: the plans go before the handle
  std::map<PlanKey, std::unique_ptr<LtPlan>> plans;

  const LtPlan& plan_for(const PlanKey& key, const float* b_scales, const float* a_scales);
  // The checked-elsewhere core: one cuBLASLt matmul, M > 0.
  void run(int64_t M, int64_t N, int64_t K, const uint8_t* A, const float* a_scales,
           const uint8_t* B, const float* b_scales, void* D, DType d_type, cudaStream_t stream);
};

Fp8GemmLt::Fp8GemmLt(size_t workspace_bytes) {
  // Block-scaled FP8 (the VEC128 / BLK128x128 modes) appeared in cuBLAS 12.9; an
  // older library at run time would reject the scale modes with a bare
  // "invalid value".
  const size_t version = cublasLtGetVersion();
  if (version < 120900)
    fail(detail::cat("cuBLASLt ", version, " has no block-scaled FP8 (needs 12.9 or newer)"),
         kWhere, "install CUDA 12.9+ (the libcublasLt the process loads)");
  impl_ = std::make_unique<Impl>(workspace_bytes);
}

Fp8GemmLt::~Fp8GemmLt() = default;

size_t Fp8GemmLt::cached_plans() const { return impl_->plans.size(); }

void Fp8GemmLt::check_shape(int64_t M, int64_t N, int64_t K, DType d_type) {
  check_m(M);
  check_n(N);
  check_k(K);
  if (d_type != DType::bf16 && d_type != DType::f32)
    fail(detail::cat("output type ", dtype_name(d_type), " is not supported"), kWhere,
         "use bf16 or f32 for D");
}

void Fp8GemmLt::check_grouped_shape(std::span<const int64_t> rows_per_expert, int64_t N,
                                    int64_t K, DType d_type) {
  check_shape(0, N, K, d_type);
  for (size_t e = 0; e < rows_per_expert.size(); ++e)
    check_m(rows_per_expert[e], int64_t(e));
}

// Our row-major D[M,N] = A B^T is cuBLASLt's column-major D^T[N,M] = B A^T with
// cuBLASLt's "A" = our B stored column-major [K, N] (ld K), transposed, and its "B" =
// our A stored column-major [K, M] (ld K), not transposed: the TN case.
const LtPlan& Fp8GemmLt::Impl::plan_for(const PlanKey& k, const float* b_scales,
                                      const float* a_scales) {
  auto it = plans.find(k);
  if (it != plans.end()) return *it->second;

  auto plan = std::make_unique<LtPlan>();
  SADARI_CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t op_t = CUBLAS_OP_T, op_n = CUBLAS_OP_N;
  SADARI_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSA,
                                                     &op_t, sizeof(op_t)));
  SADARI_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSB,
                                                     &op_n, sizeof(op_n)));
  // The scale-mode attributes are int32_t (cublasLt.h).
  const int32_t weight_mode = CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F;
  const int32_t act_mode = CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F;
  SADARI_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(
      plan->desc, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &weight_mode, sizeof(weight_mode)));
  SADARI_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(
      plan->desc, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &act_mode, sizeof(act_mode)));
  set_scale_pointers(plan->desc, b_scales, a_scales);

  SADARI_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->a, CUDA_R_8F_E4M3, k.K, k.N, k.K));
  SADARI_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->b, CUDA_R_8F_E4M3, k.K, k.M, k.K));
  const cudaDataType_t d_type = k.d_type == DType::bf16 ? CUDA_R_16BF : CUDA_R_32F;
  // C (unused, beta = 0) has D's type and layout, as cuBLASLt's FP8 table requires.
  SADARI_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->c, d_type, k.N, k.M, k.N));

  // cuBLASLt's "A" slot holds our B (weights), its "B" slot our A; C is D (beta = 0).
  const LtAlgorithm found = best_lt_algorithm({lt.handle, plan->desc, plan->a, plan->b, plan->c,
                                               plan->c, lt.workspace_bytes, k.align_b, k.align_a,
                                               k.align_d, k.align_d});
  if (!found.algo)
    fail(detail::cat("cuBLASLt has no block-scaled FP8 algorithm for M=", k.M, " N=", k.N,
                     " K=", k.K, " D ", dtype_name(k.d_type), " alignments A/B/D ", k.align_a,
                     "/", k.align_b, "/", k.align_d, " bytes, workspace ", lt.workspace_bytes,
                     " bytes (heuristic status ", int(found.status), ", ", found.results,
                     " results)"),
         kWhere,
         "block-scaled FP8 in cuBLASLt needs a Hopper GPU (compute capability 9.0) and "
         "cuBLAS 12.9+; on other GPUs use the CPU path or sadari's own kernel");
  plan->algo = *found.algo;
  return *plans.emplace(k, std::move(plan)).first->second;
}

void Fp8GemmLt::Impl::run(int64_t M, int64_t N, int64_t K, const uint8_t* A,
                          const float* a_scales, const uint8_t* B, const float* b_scales,
                          void* D, DType d_type, cudaStream_t stream) {
  const PlanKey key{M, N, K, d_type, alignment_of(A), alignment_of(B), alignment_of(D)};
  const LtPlan& plan = plan_for(key, b_scales, a_scales);
  set_scale_pointers(plan.desc, b_scales, a_scales);
  const float alpha = 1.f, beta = 0.f;
  SADARI_CUBLAS_CHECK(cublasLtMatmul(lt.handle, plan.desc, &alpha, B, plan.a, A, plan.b, &beta, D,
                                     plan.c, D, plan.c, &plan.algo, lt.workspace, lt.workspace_bytes,
                                     stream));
}

void Fp8GemmLt::gemm_nt(int64_t M, int64_t N, int64_t K, const uint8_t* A, const float* a_scales,
                        const uint8_t* B, const float* b_scales, void* D, DType d_type,
                        cudaStream_t stream) {
  check_shape(M, N, K, d_type);
  if (M == 0) return;
  check_pointer(A, "A (activation codes)");
  check_pointer(a_scales, "A scales");
  check_pointer(B, "B (weight codes)");
  check_pointer(b_scales, "B scales");
  check_pointer(D, "D");
  int device = 0;
  SADARI_CUDA_CHECK(cudaGetDevice(&device));
  SADARI_CHECK(device == impl_->lt.device, "cuda::Fp8GemmLt: created on CUDA device ",
               impl_->lt.device, " but called with device ", device, " current");
  impl_->run(M, N, K, A, a_scales, B, b_scales, D, d_type, stream);
}

void Fp8GemmLt::grouped_nt(std::span<const int64_t> rows_per_expert, int64_t N, int64_t K,
                           const uint8_t* A, const float* a_scales, const uint8_t* B,
                           const float* b_scales, void* D, DType d_type, cudaStream_t stream) {
  check_grouped_shape(rows_per_expert, N, K, d_type);
  const int64_t L = k_blocks(K), weight_scales = k_blocks(N) * round_up4(L);
  const size_t d_bytes = d_type == DType::bf16 ? 2 : 4;
  int64_t row = 0;
  for (size_t e = 0; e < rows_per_expert.size(); ++e) {
    const int64_t m = rows_per_expert[e];
    if (m > 0)
      gemm_nt(m, N, K, A + row * K, a_scales + row * L, B + int64_t(e) * N * K,
              b_scales + int64_t(e) * weight_scales,
              static_cast<char*>(D) + size_t(row * N) * d_bytes, d_type, stream);
    row += m;
  }
}

}  // namespace sadari::cuda
