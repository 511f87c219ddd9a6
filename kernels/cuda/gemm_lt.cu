#include "kernels/cuda/gemm_lt.h"

#include <cublasLt.h>
#include <cuda_bf16.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <tuple>

#include "core/error.h"
#include "kernels/cuda/device.h"
#include "kernels/cuda/lt_algorithm.h"

namespace sadari::cuda {

namespace {

cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::f32: return CUDA_R_32F;
    case DType::bf16: return CUDA_R_16BF;
    default: break;
  }
  fail(detail::cat("cuda::GemmLt: operand type ", dtype_name(t), " is not supported"), {},
       "use f32 or bf16 (fp8 GEMMs have their own path)");
}

// cuBLASLt picks kernels by the alignment the caller promises (256 bytes by
// default). Views into a tensor (rows(), a column offset) can be less aligned, so
// we promise exactly what each pointer has - a kernel needing more is then never
// chosen - and it is part of the cache key, as it changes the choice.
uint32_t alignment_of(const void* p) {
  const auto address = reinterpret_cast<uintptr_t>(p);
  if (address == 0) return 256;
  return static_cast<uint32_t>(std::min<uintptr_t>(address & (~address + 1), 256));
}

// Everything the chosen algorithm depends on.
struct PlanKey {
  bool trans_a, trans_b;
  int64_t M, N, K, lda, ldb, ldc;
  DType ab_type, c_type;
  uint32_t align_a, align_b, align_c;
  auto tie() const {
    return std::tie(trans_a, trans_b, M, N, K, lda, ldb, ldc, ab_type, c_type, align_a, align_b,
                    align_c);
  }
  bool operator<(const PlanKey& o) const { return tie() < o.tie(); }
};

// C = beta * C, for K == 0.
template <typename T>
__device__ float load_f32(const T* p);
template <>
__device__ float load_f32<float>(const float* p) { return *p; }
template <>
__device__ float load_f32<__nv_bfloat16>(const __nv_bfloat16* p) { return __bfloat162float(*p); }
__device__ void store_f32(float* p, float v) { *p = v; }
__device__ void store_f32(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }

template <typename T>
__global__ void scale_matrix_kernel(T* C, int64_t M, int64_t N, int64_t ldc, float beta) {
  const int64_t n = M * N;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    T* p = C + (i / N) * ldc + i % N;
    store_f32(p, beta == 0.f ? 0.f : beta * load_f32(p));  // beta == 0: C is not read
  }
}

}  // namespace

struct GemmLt::Impl {
  Impl(size_t workspace_bytes, bool tf32) : lt(workspace_bytes), allow_tf32(tf32) {}

  LtContext lt;  // first: the plans go before the handle
  bool allow_tf32 = false;
  std::map<PlanKey, std::unique_ptr<LtPlan>> plans;

  const LtPlan& plan_for(const PlanKey& key);
};

GemmLt::GemmLt(size_t workspace_bytes, bool allow_tf32)
    : impl_(std::make_unique<Impl>(workspace_bytes, allow_tf32)) {}

GemmLt::~GemmLt() = default;

size_t GemmLt::cached_plans() const { return impl_->plans.size(); }

// Row-major C = op(A) op(B) is, read as column-major memory, C^T = op(B)^T op(A)^T:
// a row-major [r, c] matrix with row stride ld is a column-major [c, r] one with
// leading dimension ld. So we ask cuBLASLt (column-major) for C^T[N, M] with B in
// the "A" slot and A in the "B" slot, each with its own transposition flag.
const LtPlan& GemmLt::Impl::plan_for(const PlanKey& k) {
  auto it = plans.find(k);
  if (it != plans.end()) return *it->second;

  auto plan = std::make_unique<LtPlan>();
  const cublasComputeType_t compute =
      k.ab_type == DType::f32 && allow_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  SADARI_CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan->desc, compute, CUDA_R_32F));
  // cuBLASLt "A" is our B: stored row-major [K, N] (or [N, K] when trans_b), i.e.
  // column-major [N, K] (or [K, N]), transposed iff trans_b.
  const cublasOperation_t op_first = k.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_second = k.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  SADARI_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSA,
                                                     &op_first, sizeof(op_first)));
  SADARI_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSB,
                                                     &op_second, sizeof(op_second)));
  const cudaDataType_t ab = cuda_type(k.ab_type), c = cuda_type(k.c_type);
  SADARI_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->a, ab, k.trans_b ? k.K : k.N,
                                                 k.trans_b ? k.N : k.K, k.ldb));
  // cuBLASLt "B" is our A: row-major [M, K] (or [K, M]) = column-major [K, M] (or [M, K]).
  SADARI_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->b, ab, k.trans_a ? k.M : k.K,
                                                 k.trans_a ? k.K : k.M, k.lda));
  SADARI_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->c, c, k.N, k.M, k.ldc));

  // Our "A" slot holds B's pointer and vice versa; C and D are the same buffer.
  const LtAlgorithm found = best_lt_algorithm({lt.handle, plan->desc, plan->a, plan->b, plan->c,
                                               plan->c, lt.workspace_bytes, k.align_b, k.align_a,
                                               k.align_c, k.align_c});
  if (!found.algo)
    fail(detail::cat("cuBLASLt has no algorithm for GEMM M=", k.M, " N=", k.N, " K=", k.K,
                     " trans_a=", k.trans_a, " trans_b=", k.trans_b, " lda=", k.lda,
                     " ldb=", k.ldb, " ldc=", k.ldc, " A/B ", dtype_name(k.ab_type), " C ",
                     dtype_name(k.c_type), " alignments A/B/C ", k.align_a, "/", k.align_b,
                     "/", k.align_c, " bytes, workspace ", lt.workspace_bytes, " bytes"),
         "cuda::GemmLt",
         "align operands to 16 bytes and leading dimensions to 8 (bf16) or 4 (f32) elements");
  plan->algo = *found.algo;
  return *plans.emplace(k, std::move(plan)).first->second;
}

void GemmLt::gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const void* A, int64_t lda, const void* B, int64_t ldb, float beta, void* C,
                  int64_t ldc, DType ab_type, DType c_type, cudaStream_t stream) {
  SADARI_CHECK(M >= 0 && N >= 0 && K >= 0, "cuda::GemmLt: negative size M=", M, " N=", N,
               " K=", K);
  SADARI_CHECK(ab_type == DType::f32 || ab_type == DType::bf16,
               "cuda::GemmLt: A/B type must be f32 or bf16, got ", dtype_name(ab_type));
  SADARI_CHECK(c_type == DType::f32 || (c_type == DType::bf16 && ab_type == DType::bf16),
               "cuda::GemmLt: C type ", dtype_name(c_type), " with A/B ", dtype_name(ab_type),
               " is not supported (C is f32, or bf16 with bf16 inputs)");
  int device = 0;
  SADARI_CUDA_CHECK(cudaGetDevice(&device));
  SADARI_CHECK(device == impl_->lt.device, "cuda::GemmLt: created on CUDA device ",
               impl_->lt.device, " but called with device ", device, " current");
  // Degenerate shapes are checked as leniently as cpu::gemm does (no leading
  // dimension rules for operands that are not read), so both backends accept the
  // same calls.
  if (M == 0 || N == 0) return;
  SADARI_CHECK(ldc >= N, "cuda::GemmLt: ldc=", ldc, " < N=", N);
  if (K == 0) {
    // op(A) op(B) is empty, which cuBLASLt does not accept: only C = beta * C remains.
    if (beta == 1.f) return;
    constexpr int threads = 256;
    const auto blocks = static_cast<unsigned>(std::min<int64_t>((M * N + threads - 1) / threads,
                                                                int64_t(1) << 20));
    if (c_type == DType::f32)
      scale_matrix_kernel<<<blocks, threads, 0, stream>>>(static_cast<float*>(C), M, N, ldc, beta);
    else
      scale_matrix_kernel<<<blocks, threads, 0, stream>>>(static_cast<__nv_bfloat16*>(C), M, N,
                                                          ldc, beta);
    SADARI_CUDA_CHECK_LAUNCH();
    return;
  }
  const int64_t a_cols = trans_a ? M : K, b_cols = trans_b ? K : N;
  SADARI_CHECK(lda >= a_cols, "cuda::GemmLt: lda=", lda, " < ", a_cols, " (columns of stored A)");
  SADARI_CHECK(ldb >= b_cols, "cuda::GemmLt: ldb=", ldb, " < ", b_cols, " (columns of stored B)");
  const PlanKey key{trans_a, trans_b, M, N, K, lda, ldb, ldc, ab_type, c_type,
                    alignment_of(A), alignment_of(B), alignment_of(C)};
  const LtPlan& plan = impl_->plan_for(key);
  SADARI_CUBLAS_CHECK(cublasLtMatmul(impl_->lt.handle, plan.desc, &alpha, B, plan.a, A, plan.b,
                                     &beta, C, plan.c, C, plan.c, &plan.algo, impl_->lt.workspace,
                                     impl_->lt.workspace_bytes, stream));
}

void GemmLt::matmul(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A,
                    const float* B, float* C, cudaStream_t stream, float beta) {
  gemm(trans_a, trans_b, M, N, K, 1.f, A, trans_a ? M : K, B, trans_b ? K : N, beta, C, N,
       DType::f32, DType::f32, stream);
}

}  // namespace sadari::cuda
