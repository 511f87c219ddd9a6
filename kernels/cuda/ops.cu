// Kernels of kernels/cuda/ops.h. Written for clarity first: one block per row for
// the row-wise operations, grid-stride loops for the elementwise ones. They are the
// baseline that faster (fused, vectorised, bf16) versions will be tested against.
#include "kernels/cuda/ops.h"

#include <cmath>
#include <cstdint>
#include <limits>

#include "core/error.h"
#include "kernels/cpu/cross_entropy.h"  // kIgnoreTarget: one definition for both backends
#include "kernels/cuda/device.h"

namespace sadari::cuda {

namespace {

constexpr int kWarp = 32;
constexpr int kRowThreads = 256;       // threads per block for the one-row-per-block kernels
constexpr int kElementThreads = 256;   // threads per block for elementwise kernels
constexpr int64_t kMaxGrid = 1 << 20;  // grid-stride loops cover the rest

// ---- reductions ----------------------------------------------------------------
// Warp then block tree reductions with a fixed shape: for a given blockDim the
// additions happen in the same order every run, which makes results reproducible.

template <typename T>
__device__ T warp_sum(T v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Sum over the block, returned to every thread. REQUIRES: blockDim.x a multiple of
// 32 and at most 1024; all threads of the block call it.
template <typename T>
__device__ T block_sum(T v) {
  __shared__ T partial[kWarp];
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  const int warps = blockDim.x / kWarp;
  v = warp_sum(v);
  __syncthreads();  // partial may still be read by a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = lane < warps ? partial[lane] : T(0);
  return warp_sum(v);
}

// Online softmax state: running max m and sum s of exp(x - m).
struct MaxSum {
  float m, s;
};

__device__ MaxSum merge(MaxSum a, MaxSum b) {
  // An empty side (m = -inf) contributes nothing; without this test exp(-inf - -inf)
  // would be NaN.
  if (a.m == -INFINITY) return b;
  if (b.m == -INFINITY) return a;
  const float m = fmaxf(a.m, b.m);
  return {m, a.s * expf(a.m - m) + b.s * expf(b.m - m)};
}

__device__ MaxSum warp_merge(MaxSum v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    MaxSum other{__shfl_xor_sync(0xffffffffu, v.m, offset),
                 __shfl_xor_sync(0xffffffffu, v.s, offset)};
    v = merge(v, other);
  }
  return v;
}

// Max and sum-of-exp of one row, read once (online softmax), returned to every thread.
__device__ MaxSum block_row_max_sum(const float* row, int64_t cols) {
  MaxSum v{-INFINITY, 0.f};
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) v = merge(v, MaxSum{row[j], 1.f});
  __shared__ float part_m[kWarp], part_s[kWarp];
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  const int warps = blockDim.x / kWarp;
  v = warp_merge(v);
  __syncthreads();
  if (lane == 0) {
    part_m[warp] = v.m;
    part_s[warp] = v.s;
  }
  __syncthreads();
  v = lane < warps ? MaxSum{part_m[lane], part_s[lane]} : MaxSum{-INFINITY, 0.f};
  return warp_merge(v);
}

// exp of a non-positive argument only, as the CPU version: no overflow for large |x|.
__device__ float stable_sigmoid(float x) {
  if (x >= 0.f) return 1.f / (1.f + expf(-x));
  const float e = expf(x);
  return e / (1.f + e);
}

// ---- launch helpers ------------------------------------------------------------

unsigned grid_for(int64_t n, int threads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(blocks < kMaxGrid ? blocks : kMaxGrid);
}

// One block per row: the grid's x dimension holds at most 2^31 - 1 blocks.
unsigned row_grid(const char* name, int64_t rows) {
  SADARI_CHECK(rows <= int64_t(std::numeric_limits<int32_t>::max()), name, ": ", rows,
               " rows exceed one launch");
  return static_cast<unsigned>(rows);
}

// ---- RMSNorm -------------------------------------------------------------------

__global__ void rmsnorm_forward_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                       float* __restrict__ y, float* __restrict__ rstd,
                                       int64_t dim, float eps) {
  const int64_t r = blockIdx.x;
  const float* xr = x + r * dim;
  float* yr = y + r * dim;
  float ss = 0.f;
  for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) ss += xr[j] * xr[j];
  ss = block_sum(ss);
  // 1/sqrtf, not rsqrtf: both are correctly rounded only with the former (nvcc's
  // default -prec-div/-prec-sqrt), which keeps us closest to the CPU reference.
  const float rs = 1.f / sqrtf(ss / float(dim) + eps);
  if (threadIdx.x == 0) rstd[r] = rs;
  for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) yr[j] = xr[j] * rs * w[j];
}

// dx_j = r w_j dy_j - (r^3 / dim) x_j sum_i(dy_i w_i x_i), one block per row.
__global__ void rmsnorm_backward_dx_kernel(const float* __restrict__ dy,
                                           const float* __restrict__ x,
                                           const float* __restrict__ w,
                                           const float* __restrict__ rstd,
                                           float* __restrict__ dx, int64_t dim) {
  const int64_t r = blockIdx.x;
  const float* xr = x + r * dim;
  const float* dyr = dy + r * dim;
  float* dxr = dx + r * dim;
  float dot = 0.f;
  for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) dot += dyr[j] * w[j] * xr[j];
  dot = block_sum(dot);
  const float rs = rstd[r];
  const float c = rs * rs * rs * dot / float(dim);
  for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) dxr[j] = rs * w[j] * dyr[j] - c * xr[j];
}

// dw_j += sum_rows dy_j x_j rstd. A block owns 32 columns (so no two blocks write
// the same dw element, no atomics) and its 32 x kDwRowLanes threads stride over the
// rows; the kDwRowLanes partial sums are then added in a fixed order.
constexpr int kDwRowLanes = 16;
__global__ void rmsnorm_backward_dw_kernel(const float* __restrict__ dy,
                                           const float* __restrict__ x,
                                           const float* __restrict__ rstd,
                                           float* __restrict__ dw, int64_t rows, int64_t dim) {
  __shared__ float partial[kDwRowLanes][kWarp + 1];  // +1: no bank conflicts on the column sum
  const int64_t j = int64_t(blockIdx.x) * kWarp + threadIdx.x;
  float acc = 0.f;
  if (j < dim)
    for (int64_t r = threadIdx.y; r < rows; r += kDwRowLanes)
      acc += dy[r * dim + j] * x[r * dim + j] * rstd[r];
  partial[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && j < dim) {
    float sum = 0.f;
    for (int k = 0; k < kDwRowLanes; ++k) sum += partial[k][threadIdx.x];
    dw[j] += sum;
  }
}

// ---- SwiGLU --------------------------------------------------------------------

__global__ void swiglu_forward_kernel(const float* __restrict__ gate_up, float* __restrict__ h,
                                      int64_t rows, int64_t F) {
  const int64_t n = rows * F;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / F, j = i % F;
    const float g = gate_up[r * 2 * F + j], u = gate_up[r * 2 * F + F + j];
    h[i] = g * stable_sigmoid(g) * u;
  }
}

// With s = sigmoid(g): d silu(g)/dg = s (1 + g (1 - s)).
__global__ void swiglu_backward_kernel(const float* __restrict__ dh,
                                       const float* __restrict__ gate_up,
                                       float* __restrict__ dgate_up, int64_t rows, int64_t F) {
  const int64_t n = rows * F;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / F, j = i % F;
    const float g = gate_up[r * 2 * F + j], u = gate_up[r * 2 * F + F + j];
    const float s = stable_sigmoid(g), d = dh[i];
    dgate_up[r * 2 * F + F + j] = d * g * s;
    dgate_up[r * 2 * F + j] = d * u * s * (1.f + g * (1.f - s));
  }
}

// ---- Embedding -----------------------------------------------------------------

__global__ void embedding_forward_kernel(const int32_t* __restrict__ ids,
                                         const float* __restrict__ table,
                                         float* __restrict__ out, int64_t vocab, int64_t dim) {
  const int64_t i = blockIdx.x;
  const int32_t id = ids[i];
  float* row = out + i * dim;
  if (id < 0 || id >= vocab) {
    for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) row[j] = NAN;
    return;
  }
  const float* src = table + int64_t(id) * dim;
  for (int64_t j = threadIdx.x; j < dim; j += blockDim.x) row[j] = src[j];
}

// ---- Softmax -------------------------------------------------------------------

// No __restrict__: x and y may alias (each element is read and then written by the
// same thread, after the whole row has been reduced).
__global__ void softmax_forward_kernel(const float* x, float* y, int64_t cols) {
  const int64_t r = blockIdx.x;
  const float* xr = x + r * cols;
  float* yr = y + r * cols;
  const MaxSum ms = block_row_max_sum(xr, cols);
  const float inv = 1.f / ms.s;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) yr[j] = expf(xr[j] - ms.m) * inv;
}

// ---- Cross-entropy -------------------------------------------------------------

__global__ void row_lse_kernel(const float* __restrict__ logits, float* __restrict__ lse,
                               int64_t vocab) {
  const int64_t r = blockIdx.x;
  const MaxSum ms = block_row_max_sum(logits + r * vocab, vocab);
  if (threadIdx.x == 0) lse[r] = ms.m + logf(ms.s);
}

// One block sums every row's loss lse - logit[target] in double: the fixed block
// shape gives a fixed order, so the loss is bit-reproducible; n is one batch of
// tokens, small enough for one block to read.
constexpr int kLossThreads = 1024;
__global__ void loss_sum_kernel(const float* __restrict__ logits,
                                const int32_t* __restrict__ targets,
                                const float* __restrict__ lse, int64_t n, int64_t vocab,
                                double* loss_sum, int64_t* count) {
  double acc = 0.0;
  unsigned long long counted = 0, bad = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const int32_t t = targets[i];
    if (t == cpu::kIgnoreTarget) continue;
    if (t < 0 || t >= vocab) {
      ++bad;
      continue;
    }
    acc += double(lse[i]) - double(logits[i * vocab + t]);
    ++counted;
  }
  acc = block_sum(acc);
  counted = block_sum(counted);
  bad = block_sum(bad);
  if (threadIdx.x == 0) {
    *loss_sum = bad ? NAN : acc;
    *count = static_cast<int64_t>(counted);
  }
}

// ---- bf16 ----------------------------------------------------------------------
// Integer arithmetic on the bit pattern, exactly core/bf16.h, rather than the
// __float2bfloat16_rn intrinsic, whose NaN results need not match the host's.

__global__ void f32_to_bf16_kernel(const float* __restrict__ in, uint16_t* __restrict__ out,
                                   int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const uint32_t bits = __float_as_uint(in[i]);
    if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0) {
      out[i] = static_cast<uint16_t>((bits >> 16) | 0x0040u);  // quiet NaN, sign kept
    } else {
      const uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);  // ties to even
      out[i] = static_cast<uint16_t>((bits + rounding) >> 16);
    }
  }
}

__global__ void bf16_to_f32_kernel(const uint16_t* __restrict__ in, float* __restrict__ out,
                                   int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = __uint_as_float(uint32_t(in[i]) << 16);
}

}  // namespace

void rmsnorm_forward(const float* x, const float* w, float* y, float* rstd, int64_t rows,
                     int64_t dim, float eps, cudaStream_t stream) {
  SADARI_CHECK(rows >= 0 && dim > 0, "cuda::rmsnorm_forward: bad shape rows=", rows, " dim=", dim);
  if (rows == 0) return;
  rmsnorm_forward_kernel<<<row_grid("cuda::rmsnorm_forward", rows), kRowThreads, 0, stream>>>(
      x, w, y, rstd, dim, eps);
  SADARI_CUDA_CHECK_LAUNCH();
}

void rmsnorm_backward(const float* dy, const float* x, const float* w, const float* rstd,
                      float* dx, float* dw, int64_t rows, int64_t dim, cudaStream_t stream) {
  SADARI_CHECK(rows >= 0 && dim > 0, "cuda::rmsnorm_backward: bad shape rows=", rows,
               " dim=", dim);
  if (rows == 0) return;
  rmsnorm_backward_dx_kernel<<<row_grid("cuda::rmsnorm_backward", rows), kRowThreads, 0,
                               stream>>>(dy, x, w, rstd, dx, dim);
  SADARI_CUDA_CHECK_LAUNCH();
  if (!dw) return;
  const dim3 block(kWarp, kDwRowLanes);
  const auto col_blocks = static_cast<unsigned>((dim + kWarp - 1) / kWarp);
  rmsnorm_backward_dw_kernel<<<col_blocks, block, 0, stream>>>(dy, x, rstd, dw, rows, dim);
  SADARI_CUDA_CHECK_LAUNCH();
}

void swiglu_forward(const float* gate_up, float* h, int64_t rows, int64_t F,
                    cudaStream_t stream) {
  SADARI_CHECK(rows >= 0 && F >= 0, "cuda::swiglu_forward: bad shape rows=", rows, " F=", F);
  if (rows * F == 0) return;
  swiglu_forward_kernel<<<grid_for(rows * F, kElementThreads), kElementThreads, 0, stream>>>(
      gate_up, h, rows, F);
  SADARI_CUDA_CHECK_LAUNCH();
}

void swiglu_backward(const float* dh, const float* gate_up, float* dgate_up, int64_t rows,
                     int64_t F, cudaStream_t stream) {
  SADARI_CHECK(rows >= 0 && F >= 0, "cuda::swiglu_backward: bad shape rows=", rows, " F=", F);
  if (rows * F == 0) return;
  swiglu_backward_kernel<<<grid_for(rows * F, kElementThreads), kElementThreads, 0, stream>>>(
      dh, gate_up, dgate_up, rows, F);
  SADARI_CUDA_CHECK_LAUNCH();
}

void embedding_forward(const int32_t* ids, const float* table, float* out, int64_t n,
                       int64_t vocab, int64_t dim, cudaStream_t stream) {
  SADARI_CHECK(n >= 0 && vocab > 0 && dim > 0, "cuda::embedding_forward: bad shape n=", n,
               " vocab=", vocab, " dim=", dim);
  if (n == 0) return;
  embedding_forward_kernel<<<row_grid("cuda::embedding_forward", n), kRowThreads, 0, stream>>>(
      ids, table, out, vocab, dim);
  SADARI_CUDA_CHECK_LAUNCH();
}

void softmax_forward(const float* x, float* y, int64_t rows, int64_t cols, cudaStream_t stream) {
  SADARI_CHECK(rows >= 0 && cols > 0, "cuda::softmax_forward: bad shape rows=", rows,
               " cols=", cols);
  if (rows == 0) return;
  softmax_forward_kernel<<<row_grid("cuda::softmax_forward", rows), kRowThreads, 0, stream>>>(
      x, y, cols);
  SADARI_CUDA_CHECK_LAUNCH();
}

void cross_entropy_forward(const float* logits, const int32_t* targets, float* lse, int64_t n,
                           int64_t vocab, double* loss_sum, int64_t* count,
                           cudaStream_t stream) {
  SADARI_CHECK(n >= 0 && vocab > 0, "cuda::cross_entropy_forward: bad shape n=", n,
               " vocab=", vocab);
  SADARI_CHECK(loss_sum && count, "cuda::cross_entropy_forward: loss_sum and count are required");
  if (n > 0) {
    row_lse_kernel<<<row_grid("cuda::cross_entropy_forward", n), kRowThreads, 0, stream>>>(
        logits, lse, vocab);
    SADARI_CUDA_CHECK_LAUNCH();
  }
  // Launched for n == 0 too, so the outputs are always written (0 and 0).
  loss_sum_kernel<<<1, kLossThreads, 0, stream>>>(logits, targets, lse, n, vocab, loss_sum, count);
  SADARI_CUDA_CHECK_LAUNCH();
}

void f32_to_bf16(const float* in, uint16_t* out, int64_t n, cudaStream_t stream) {
  SADARI_CHECK(n >= 0, "cuda::f32_to_bf16: negative size ", n);
  if (n == 0) return;
  f32_to_bf16_kernel<<<grid_for(n, kElementThreads), kElementThreads, 0, stream>>>(in, out, n);
  SADARI_CUDA_CHECK_LAUNCH();
}

void bf16_to_f32(const uint16_t* in, float* out, int64_t n, cudaStream_t stream) {
  SADARI_CHECK(n >= 0, "cuda::bf16_to_f32: negative size ", n);
  if (n == 0) return;
  bf16_to_f32_kernel<<<grid_for(n, kElementThreads), kElementThreads, 0, stream>>>(in, out, n);
  SADARI_CUDA_CHECK_LAUNCH();
}

}  // namespace sadari::cuda
