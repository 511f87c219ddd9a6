// The Hopper (sm_90a) instructions the FP8 GEMM of fp8_gemm_sm90.cu is built from,
// each wrapped in one small inline-PTX function: mbarriers, the TMA tile copy, the
// wgmma shared-memory matrix descriptor and wgmma itself.
//
// Conventions: shared-memory operands are 32-bit addresses in the CTA's shared
// window (smem_u32 of a generic pointer), as the PTX instructions take them.
// Every asm is volatile with a "memory" clobber, so the compiler neither drops nor
// reorders them against each other or against ordinary memory accesses.
// Device code only; included by fp8_gemm_sm90.cu alone.
#pragma once

#include <cuda.h>  // CUtensorMap (a type only: nothing here calls the driver)

#include <cstdint>

namespace sadari::cuda::sm90 {

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// ---- mbarrier -----------------------------------------------------------------
// An mbarrier counts pending arrivals and pending transaction bytes; a phase
// completes when both reach zero, then the barrier re-arms with the init count
// for the next phase. Waiters name the phase by its parity (0, 1, 0, ...).

__device__ __forceinline__ void mbar_init(uint32_t bar, uint32_t arrivals) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(bar), "r"(arrivals) : "memory");
}

// Makes the initialised barriers visible to the async proxy (the TMA unit that
// will signal them) and to the other threads after the following __syncthreads.
__device__ __forceinline__ void mbar_fence_init() {
  asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
}

// Blocks until the phase with this parity has completed. On a freshly initialised
// barrier (phase 0 running), parity 1 names the phase "before" it, which counts as
// completed: a producer waiting on "empty" with parity 1 passes at once.
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
  uint32_t done = 0;
  do {
    asm volatile(
        "{\n"
        ".reg .pred p;\n"
        "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
        "selp.u32 %0, 1, 0, p;\n"
        "}\n"
        : "=r"(done)
        : "r"(bar), "r"(parity)
        : "memory");
  } while (!done);
}

__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(bar) : "memory");
}

// One arrival that also announces `bytes` of transactions (the TMA copies that
// will complete_tx on this barrier).
__device__ __forceinline__ void mbar_arrive_expect_tx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar), "r"(bytes)
               : "memory");
}

// ---- TMA ----------------------------------------------------------------------
// Copies the box at coordinates (c0 = innermost, c1) of the tensor map into shared
// memory at dst (laid out as the map's swizzle says) and signals `bar` with the
// box's bytes. `map` must point at a __grid_constant__ kernel parameter (or
// global/constant memory).
__device__ __forceinline__ void tma_load_2d(uint32_t dst, const CUtensorMap* map, int32_t c0,
                                            int32_t c1, uint32_t bar) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes"
      " [%0], [%1, {%2, %3}], [%4];" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(bar)
      : "memory");
}

__device__ __forceinline__ void tma_prefetch_descriptor(const CUtensorMap* map) {
  asm volatile("prefetch.tensormap [%0];" ::"l"(reinterpret_cast<uint64_t>(map)) : "memory");
}

// ---- wgmma --------------------------------------------------------------------
// Shared-memory matrix descriptor (PTX ISA, "Matrix Descriptor Format"), 64 bits:
//   [0,14)  start address >> 4        [16,30) leading-dimension byte offset >> 4
//   [32,46) stride-dimension byte offset >> 4
//   [49,52) base offset (0: every tile here starts on a 1024-byte boundary)
//   [62,64) swizzle: 1 = 128-byte swizzle.
// Our operand tiles are K-major with 128-byte rows (128 fp8 values of K per row of
// M or N), written by TMA with the 128-byte swizzle: an "atom" is 8 rows x 128
// bytes = 1024 bytes, and the next 8 rows start 1024 bytes further: SBO = 1024.
// One wgmma reads 32 bytes of K per row, inside one 128-byte swizzled row, so the
// leading-dimension offset (the step between K atoms) is never used; it is set to
// 16 bytes (encoded 1), the value CUTLASS uses for this layout. Stepping to the
// k-th 32-byte slice of K adds k * 32 bytes to the start address: the hardware
// applies the swizzle XOR to the computed address bits, as TMA did when writing.
__device__ __forceinline__ uint64_t wgmma_desc_k_major_sw128(uint32_t smem_addr) {
  return (uint64_t((smem_addr & 0x3FFFF) >> 4)) | (uint64_t(16 >> 4) << 16) |
         (uint64_t(1024 >> 4) << 32) | (uint64_t(1) << 62);
}

// Orders earlier register accesses before the following wgmma ops (required before
// the first wgmma of a batch whose accumulators other instructions touched).
__device__ __forceinline__ void wgmma_fence() {
  asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
}
__device__ __forceinline__ void wgmma_commit() {
  asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
}
__device__ __forceinline__ void wgmma_wait_all() {
  asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
}

// Makes the compiler treat x as read and rewritten here: placed after
// wgmma_wait_all, it keeps every later use of an accumulator after the wait
// (the wgmma asm "defines" its outputs at issue, long before they are ready).
__device__ __forceinline__ void reg_fence(float& x) { asm volatile("" : "+f"(x)::"memory"); }

// D[64 x 128] (+)= A[64 x 32] . B[128 x 32]^T, e4m3 x e4m3 -> f32, both operands
// K-major in shared memory. accumulate == 0 ignores D's old value (D = A.B).
// Register fragment of D (CUTLASS's CLayout_64xN; PTX ISA figure "WGMMA .m64nNk32
// register fragment layout for accumulator matrix D"): in the warpgroup, thread
// t = 32 w + l (warp w in 0..3, lane l) holds d[i], i in 0..63, at
//   row = 16 w + l / 4 + 8 * ((i / 2) % 2),   col = 8 * (i / 4) + 2 * (l % 4) + i % 2.
__device__ __forceinline__ void wgmma_m64n128k32_e4m3(float (&d)[64], uint64_t desc_a,
                                                      uint64_t desc_b, uint32_t accumulate) {
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "setp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, "
      "%19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, "
      "%36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, "
      "%53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
      "%64, %65, p, 1, 1;\n"
      "}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),
        "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]),
        "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]),
        "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]),
        "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]),
        "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]),
        "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]),
        "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]),
        "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]),
        "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]),
        "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "l"(desc_a), "l"(desc_b), "r"(accumulate)
      : "memory");
}

}  // namespace sadari::cuda::sm90
