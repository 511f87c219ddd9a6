// sadari's FP8 GEMM for sm_90a: the kernel and its host launcher. The contract,
// layouts and design are in fp8_gemm_sm90.h; the PTX wrappers in
// fp8_gemm_sm90_ptx.cuh.
//
// Thread roles in a CTA of 288 threads (9 warps):
//   warps 0-3  consumer warpgroup 0: rows  0..63 of the 128 x 128 output tile
//   warps 4-7  consumer warpgroup 1: rows 64..127
//   warp  8    producer: its lane 0 issues every TMA copy; lanes 1-31 exit at once.
// (wgmma needs each warpgroup to be 4 consecutive warps starting at a multiple of
// 4, hence the producer last. 288 threads leave up to 224 registers per thread
// under __launch_bounds__(288, 1), enough for the 2 x 64 fp32 accumulators without
// setmaxnreg.)
//
// Pipeline (kStages shared-memory stages, each an A tile and a B tile, 128 x 128
// bytes each, 128-byte swizzled). Every role walks the same sequence of (tile,
// K block) steps; step s uses stage s % kStages and, within it, the phase parity
// (s / kStages) % 2 of that stage's barriers:
//   producer: wait empty[stage] (parity ^ 1: the first round passes at once),
//             arrive.expect_tx(full[stage], 32 KiB), TMA A and B into the stage.
//   consumer: load its 3 scales for the K block, wait full[stage] (parity),
//             4 x wgmma (K = 4 x 32) into a block accumulator that starts at 0,
//             commit + wait for them, arrive on empty[stage] (lane 0 of each of
//             the 8 consumer warps: empty's arrival count is 8), then
//             acc += block * sA[row][kb] * sB[nb][kb] for each of its 2 rows.
// After the last K block of a tile the consumers store their fragment of D and go
// on to the next tile; the producer has already started filling stages for it.
#include "kernels/cuda/fp8_gemm_sm90.h"

#include <cuda.h>
#include <cuda_bf16.h>

#include <algorithm>

#include "core/error.h"
#include "kernels/cuda/device.h"
#include "kernels/cuda/fp8_gemm_sm90_ptx.cuh"

namespace sadari::cuda {

namespace {

using namespace sm90;

constexpr int kBlock = 128;  // BLOCK_M = BLOCK_N = BLOCK_K
constexpr int kStages = 6;
constexpr int kConsumerWarps = 8;
constexpr int kThreads = (kConsumerWarps + 1) * 32;
constexpr uint32_t kTileBytes = kBlock * kBlock;     // one operand tile: 16 KiB of fp8
constexpr uint32_t kStageBytes = 2 * kTileBytes;     // A + B
constexpr size_t kSmemBytes = 1024                   // slack to align the base to 1024
                              + size_t(kStages) * kStageBytes + 2 * kStages * sizeof(uint64_t);
static_assert(kSmemBytes <= 227 * 1024, "over Hopper's 227 KiB of shared memory per block");

// Everything besides the tensor maps that the kernel needs, passed by value.
struct Params {
  const float* a_scales;  // [M][k_blocks]
  const float* b_scales;  // [E][n_blocks][k_blocks]
  void* d;                // [m][n]
  int32_t m;              // M: the rows of A and D (dense: any; grouped: a multiple of 128)
  int32_t n;              // N: the row length of D and the rows of one expert's B
  int32_t m_blocks, n_blocks, k_blocks;  // ceil(M / 128), ceil(N / 128), K / 128
  int32_t num_experts;
  // Expert e owns the 128-row blocks [block_offsets[e], block_offsets[e+1]).
  int32_t block_offsets[kFp8Sm90MaxExperts + 1];
};
static_assert(sizeof(Params) + 2 * sizeof(CUtensorMap) <= 4096, "kernel parameters over 4 KiB");

// The expert owning 128-row block mb: the last e with block_offsets[e] <= mb
// (then block_offsets[e + 1] > mb, so e is never an empty expert).
__device__ __forceinline__ int expert_of(const Params& p, int mb) {
  int lo = 0, hi = p.num_experts;  // block_offsets[lo] <= mb < block_offsets[hi]
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (p.block_offsets[mid] <= mb) lo = mid;
    else hi = mid;
  }
  return lo;
}

__device__ __forceinline__ void store_pair(float* p, float x, float y) {
  *reinterpret_cast<float2*>(p) = make_float2(x, y);
}
__device__ __forceinline__ void store_pair(__nv_bfloat16* p, float x, float y) {
  *reinterpret_cast<__nv_bfloat162*>(p) = __floats2bfloat162_rn(x, y);
}

template <typename OutT>
__global__ void __launch_bounds__(kThreads, 1)
    fp8_gemm_sm90_kernel(const __grid_constant__ CUtensorMap map_a,
                         const __grid_constant__ CUtensorMap map_b,
                         const __grid_constant__ Params p) {
  extern __shared__ uint8_t smem_raw[];
  // 128-byte swizzle repeats every 1024 bytes; TMA and wgmma agree on it only if
  // every tile starts on a 1024-byte boundary (descriptor base offset 0).
  const uint32_t base = (smem_u32(smem_raw) + 1023u) & ~1023u;
  const uint32_t a_tiles = base;                                  // kStages x 16 KiB
  const uint32_t b_tiles = base + kStages * kTileBytes;           // kStages x 16 KiB
  const uint32_t full_bars = base + kStages * kStageBytes;        // kStages x 8 bytes
  const uint32_t empty_bars = full_bars + kStages * sizeof(uint64_t);

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      mbar_init(full_bars + 8 * s, 1);                 // the producer's expect_tx arrival
      mbar_init(empty_bars + 8 * s, kConsumerWarps);  // one arrival per consumer warp
    }
    mbar_fence_init();
  }
  __syncthreads();

  const int num_tiles = p.m_blocks * p.n_blocks;

  if (warp == kConsumerWarps) {
    // ---- producer ----
    if (lane != 0) return;
    tma_prefetch_descriptor(&map_a);
    tma_prefetch_descriptor(&map_b);
    int stage = 0;
    uint32_t parity = 0;
    for (int tile = blockIdx.x; tile < num_tiles; tile += gridDim.x) {
      const int mb = tile % p.m_blocks, nb = tile / p.m_blocks;
      const int b_row = expert_of(p, mb) * p.n + nb * kBlock;
      for (int kb = 0; kb < p.k_blocks; ++kb) {
        mbar_wait(empty_bars + 8 * stage, parity ^ 1);
        const uint32_t full = full_bars + 8 * stage;
        mbar_arrive_expect_tx(full, kStageBytes);
        tma_load_2d(a_tiles + stage * kTileBytes, &map_a, kb * kBlock, mb * kBlock, full);
        tma_load_2d(b_tiles + stage * kTileBytes, &map_b, kb * kBlock, b_row, full);
        if (++stage == kStages) stage = 0, parity ^= 1;
      }
    }
    return;
  }

  // ---- consumers ----
  const int wg = warp / 4;        // consumer warpgroup: tile rows [64 wg, 64 wg + 64)
  const int warp_in_wg = warp % 4;
  // This thread's two rows and first column in the tile (see the fragment layout at
  // wgmma_m64n128k32_e4m3): rows r0 and r0 + 8; columns 8 j + c0 + {0, 1}, j < 16.
  const int r0 = 64 * wg + 16 * warp_in_wg + lane / 4;
  const int c0 = 2 * (lane % 4);
  const uint32_t a_wg_offset = 64 * wg * kBlock;  // this warpgroup's 64 rows of the A tile

  float acc[64];    // the promoted fp32 result
  float block[64];  // one K block's wgmma sum
#pragma unroll
  for (int i = 0; i < 64; ++i) block[i] = 0.f;

  int stage = 0;
  uint32_t parity = 0;
  for (int tile = blockIdx.x; tile < num_tiles; tile += gridDim.x) {
    const int mb = tile % p.m_blocks, nb = tile / p.m_blocks;
    const int expert = expert_of(p, mb);
    const int64_t row0 = int64_t(mb) * kBlock + r0;  // global rows row0 and row0 + 8
    // A partial last tile (dense M % 128 != 0): TMA fills the rows past M with
    // zeros; their scales are not read (0 instead) and their outputs not stored.
    const bool row0_in = row0 < p.m, row1_in = row0 + 8 < p.m;
    const float* sa0 = p.a_scales + row0 * p.k_blocks;
    const float* sa1 = sa0 + 8 * int64_t(p.k_blocks);
    const float* sb = p.b_scales + (int64_t(expert) * p.n_blocks + nb) * p.k_blocks;
#pragma unroll
    for (int i = 0; i < 64; ++i) acc[i] = 0.f;

    for (int kb = 0; kb < p.k_blocks; ++kb) {
      // Issued before the wait: their latency hides behind the TMA and the wgmma.
      const float scale_b = __ldg(sb + kb);
      const float scale0 = row0_in ? __ldg(sa0 + kb) * scale_b : 0.f;
      const float scale1 = row1_in ? __ldg(sa1 + kb) * scale_b : 0.f;

      mbar_wait(full_bars + 8 * stage, parity);
      const uint32_t a_tile = a_tiles + stage * kTileBytes + a_wg_offset;
      const uint32_t b_tile = b_tiles + stage * kTileBytes;
#pragma unroll
      for (int i = 0; i < 64; ++i) reg_fence(block[i]);
      wgmma_fence();
#pragma unroll
      for (int k = 0; k < kBlock / 32; ++k)  // 32 bytes of K per wgmma
        wgmma_m64n128k32_e4m3(block, wgmma_desc_k_major_sw128(a_tile + 32 * k),
                              wgmma_desc_k_major_sw128(b_tile + 32 * k), k > 0 ? 1u : 0u);
      wgmma_commit();
      wgmma_wait_all();
#pragma unroll
      for (int i = 0; i < 64; ++i) reg_fence(block[i]);
      // The stage's shared memory is no longer read: hand it back to the producer.
      if (lane == 0) mbar_arrive(empty_bars + 8 * stage);
      if (++stage == kStages) stage = 0, parity ^= 1;

      // Promotion: d[i] lies in row r0 + 8 * ((i / 2) % 2).
#pragma unroll
      for (int i = 0; i < 64; ++i) acc[i] = fmaf(block[i], (i / 2) % 2 ? scale1 : scale0, acc[i]);
    }

    // Columns past N (N % 128 != 0: the last N block) hold B rows that TMA filled
    // with zeros or that belong to the next expert; they are not stored. N is even,
    // so a pair (col, col + 1) is either wholly inside or wholly outside.
    const int col0 = nb * kBlock + c0;
    OutT* d0 = static_cast<OutT*>(p.d) + row0 * p.n + col0;
    OutT* d1 = d0 + 8 * int64_t(p.n);
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      if (col0 + 8 * j >= p.n) break;
      if (row0_in) store_pair(d0 + 8 * j, acc[4 * j], acc[4 * j + 1]);
      if (row1_in) store_pair(d1 + 8 * j, acc[4 * j + 2], acc[4 * j + 3]);
    }
  }
}

// ---- host side ------------------------------------------------------------------

using EncodeTiledFn = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*,
                                   const cuuint64_t*, const cuuint64_t*, const cuuint32_t*,
                                   const cuuint32_t*, CUtensorMapInterleave, CUtensorMapSwizzle,
                                   CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

// cuTensorMapEncodeTiled through the runtime's driver entry-point query, so that
// sadari needs no -lcuda (the driver library is loaded by cudart anyway).
EncodeTiledFn encode_tiled_fn() {
  static EncodeTiledFn fn = [] {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult found{};
    SADARI_CUDA_CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000,
                                                       cudaEnableDefault, &found));
    if (found != cudaDriverEntryPointSuccess || f == nullptr)
      fail("the CUDA driver offers no cuTensorMapEncodeTiled", "cuda::fp8_gemm_sm90",
           "the FP8 sm_90a GEMM needs a driver for CUDA 12.0 or newer");
    return reinterpret_cast<EncodeTiledFn>(f);
  }();
  return fn;
}

// A 2-D map over codes [rows][K] (uint8, K contiguous) with 128 x 128-byte boxes,
// 128-byte swizzled as wgmma's K-major operands want.
CUtensorMap tile_map(const uint8_t* codes, int64_t rows, int64_t K, const char* name) {
  CUtensorMap map{};
  const cuuint64_t dims[2] = {cuuint64_t(K), cuuint64_t(rows)};
  const cuuint64_t strides[1] = {cuuint64_t(K)};  // bytes from one row to the next
  const cuuint32_t box[2] = {kBlock, kBlock};
  const cuuint32_t element_strides[2] = {1, 1};
  const CUresult r = encode_tiled_fn()(
      &map, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, const_cast<uint8_t*>(codes), dims, strides, box,
      element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
      CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS)
    fail(detail::cat("cuTensorMapEncodeTiled failed (CUresult ", int(r), ") for ", name, " [",
                     rows, "][", K, "] at ", static_cast<const void*>(codes)),
         "cuda::fp8_gemm_sm90", "check that the pointer is a device pointer, 16-byte aligned");
  return map;
}

bool aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

// All checks that need no device; throws Error naming the argument.
// `dense`: one expert whose row count need not be a multiple of 128.
void validate(const char* where, bool dense, const uint8_t* a, const float* a_scales,
              const uint8_t* b, const float* b_scales, const void* d, DType d_type,
              const int64_t* row_offsets, int64_t num_experts, int64_t N, int64_t K) {
  if (d_type != DType::f32 && d_type != DType::bf16)
    fail(detail::cat("output type ", dtype_name(d_type), " is not supported"), where,
         "use f32 or bf16");
  if (N <= 0 || N % 2 != 0)
    fail(detail::cat("N = ", N, " must be positive and even"), where,
         "pad N by one (a zero row of B) and ignore that column of D");
  if (K <= 0 || K % kBlock != 0)
    fail(detail::cat("K = ", K, " must be a positive multiple of 128"), where,
         "pad K to a multiple of 128 with zero codes (they add nothing)");
  if (num_experts < 1 || num_experts > kFp8Sm90MaxExperts)
    fail(detail::cat("num_experts = ", num_experts, " is outside [1, ", kFp8Sm90MaxExperts, "]"),
         where, "split the experts over several calls");
  if (row_offsets == nullptr) fail("row_offsets is null", where);
  if (row_offsets[0] != 0)
    fail(detail::cat("row_offsets[0] = ", row_offsets[0], " must be 0"), where);
  for (int64_t e = 0; e < num_experts; ++e) {
    const int64_t rows = row_offsets[e + 1] - row_offsets[e];
    if (rows < 0 || (!dense && rows % kBlock != 0))
      fail(detail::cat("expert ", e, " has ", rows, " rows (row_offsets[", e, "] = ",
                       row_offsets[e], ", row_offsets[", e + 1, "] = ", row_offsets[e + 1],
                       "); each expert's row count must be a non-negative multiple of 128"),
           where, "pad every expert's rows to a multiple of 128 (zero rows)");
  }
  const int64_t M = row_offsets[num_experts];
  // 32-bit tile indices in the kernel; TMA coordinates are 32-bit too.
  constexpr int64_t kLimit = int64_t(1) << 31;
  if (M >= kLimit || num_experts * N >= kLimit || K >= kLimit ||
      ((M + kBlock - 1) / kBlock) * ((N + kBlock - 1) / kBlock) >= kLimit)
    fail(detail::cat("problem too large: M = ", M, ", N = ", N, ", K = ", K, ", E = ",
                     num_experts),
         where, "split it into several calls");
  if (M == 0) return;  // nothing is read or written
  if (!a || !a_scales || !b || !b_scales || !d)
    fail("a device pointer is null (a, a_scales, b, b_scales or d)", where);
  if (!aligned(a, 16) || !aligned(b, 16))
    fail("the A and B codes must be 16-byte aligned (a TMA requirement)", where,
         "pass the start of a cudaMalloc allocation or a 16-byte aligned view");
  if (!aligned(a_scales, 4) || !aligned(b_scales, 4) ||
      !aligned(d, d_type == DType::f32 ? 8 : 4))
    fail("a scale or output pointer is misaligned (scales: 4 bytes; D: 8 bytes for f32, 4 for "
         "bf16)",
         where);
}

void launch(const char* where, bool dense, const uint8_t* a, const float* a_scales,
            const uint8_t* b, const float* b_scales, void* d, DType d_type,
            const int64_t* row_offsets, int64_t num_experts, int64_t N, int64_t K,
            cudaStream_t stream) {
  validate(where, dense, a, a_scales, b, b_scales, d, d_type, row_offsets, num_experts, N, K);
  const int64_t M = row_offsets[num_experts];
  if (M == 0) return;

  int device = 0, major = 0, minor = 0, sms = 0;
  SADARI_CUDA_CHECK(cudaGetDevice(&device));
  SADARI_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  SADARI_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
  SADARI_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  if (major != 9 || minor != 0)
    fail(detail::cat("device ", device, " has compute capability ", major, ".", minor,
                     "; this kernel is sm_90a (Hopper) code"),
         where, "use cuda::Fp8GemmLt (cuBLASLt) or the CPU path on other GPUs");

  Params p{};
  p.a_scales = a_scales;
  p.b_scales = b_scales;
  p.d = d;
  p.m = int32_t(M);
  p.n = int32_t(N);
  p.m_blocks = int32_t((M + kBlock - 1) / kBlock);
  p.n_blocks = int32_t((N + kBlock - 1) / kBlock);
  p.k_blocks = int32_t(K / kBlock);
  p.num_experts = int32_t(num_experts);
  // Grouped offsets are multiples of 128; a dense M rounds up (one expert).
  for (int64_t e = 0; e <= num_experts; ++e)
    p.block_offsets[e] = int32_t((row_offsets[e] + kBlock - 1) / kBlock);

  const CUtensorMap map_a = tile_map(a, M, K, "A");
  const CUtensorMap map_b = tile_map(b, num_experts * N, K, "B");

  const int64_t tiles = int64_t(p.m_blocks) * p.n_blocks;
  const dim3 grid(unsigned(std::min<int64_t>(tiles, sms)));
  if (d_type == DType::bf16) {
    auto* kernel = fp8_gemm_sm90_kernel<__nv_bfloat16>;
    SADARI_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           int(kSmemBytes)));
    kernel<<<grid, kThreads, kSmemBytes, stream>>>(map_a, map_b, p);
  } else {
    auto* kernel = fp8_gemm_sm90_kernel<float>;
    SADARI_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           int(kSmemBytes)));
    kernel<<<grid, kThreads, kSmemBytes, stream>>>(map_a, map_b, p);
  }
  SADARI_CUDA_CHECK_LAUNCH();
}

}  // namespace

void fp8_gemm_sm90_nt(const uint8_t* a, const float* a_scales, const uint8_t* b,
                      const float* b_scales, void* d, DType d_type, int64_t M, int64_t N,
                      int64_t K, cudaStream_t stream) {
  const char* where = "cuda::fp8_gemm_sm90_nt";
  if (M < 0) fail(detail::cat("M = ", M, " is negative"), where);
  const int64_t offsets[2] = {0, M};
  launch(where, true, a, a_scales, b, b_scales, d, d_type, offsets, 1, N, K, stream);
}

void fp8_gemm_sm90_grouped_nt(const uint8_t* a, const float* a_scales, const uint8_t* b,
                              const float* b_scales, void* d, DType d_type,
                              const int64_t* row_offsets, int64_t num_experts, int64_t N,
                              int64_t K, cudaStream_t stream) {
  launch("cuda::fp8_gemm_sm90_grouped_nt", false, a, a_scales, b, b_scales, d, d_type,
         row_offsets, num_experts, N, K, stream);
}

}  // namespace sadari::cuda
