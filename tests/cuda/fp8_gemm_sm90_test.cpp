// cuda::fp8_gemm_sm90_nt / fp8_gemm_sm90_grouped_nt (sadari's wgmma FP8 GEMM)
// against cpu::fp8_gemm_nt on Gaussian data quantised by the CPU kernels (A 1x128
// tiles, B 128x128 blocks): dense shapes (square, non-square, K up to 2048, more
// tiles than a GPU has SMs so every CTA walks several, K blocks beyond the stage
// ring), bf16 and f32 output; grouped with 4 experts of uneven padded row counts
// including an empty one and zero padding rows; repeatability; and the argument
// checks, which run without a GPU because they come before any device call.
//
// Bound, per element, with S = sum_k |a_k b_k| over the dequantised operands:
//   |got - ref| <= 2^-9 S  (+ 2^-8 |ref| for a bf16 output).
// Why: the reference sums in fp32 (error ~K 2^-24 S, negligible); the GPU sums the
// 128 products of a K block in the tensor cores, whose FP8 accumulation keeps only
// about 14 bits (products aligned to the largest exponent and truncated, DeepSeek-V3
// sec. 3.3.2), before each block is promoted to fp32. For Gaussian data that is a
// typical error of about 2^-12.5 S per block; 2^-9 S leaves a wide margin while a
// wrong fragment mapping, scale or tile (an error of the order of |ref|, itself
// ~ S / sqrt(K)) still fails. bf16 rounding to nearest adds at most 2^-9 |ref|.
// Untested on a GPU so far: if the tensor cores prove less precise than assumed,
// this bound is the thing to revisit, with the measured worst case.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "core/bf16.h"
#include "core/error.h"
#include "kernels/cpu/fp8_gemm.h"
#include "kernels/cpu/fp8_quantize.h"
#include "kernels/cuda/fp8_gemm_sm90.h"
#include "tests/cuda/cuda_test_util.h"
#include "tests/kernels/gaussian.h"

namespace sadari::cuda {
namespace {

using cpu::Fp8Matrix;
using cpu::Fp8View;
using test::download;
using test::ptr;
using test::upload;

// An operand as the GPU takes it: codes and scales in the CPU layout.
struct Operand {
  std::vector<uint8_t> q;
  std::vector<float> scales;
};

// A device copy of FP8 codes (test::upload knows no 1-byte type).
Tensor upload_codes(std::vector<uint8_t> q) {
  if (q.empty()) q.resize(1);
  return to_device(Tensor::wrap(q.data(), {int64_t(q.size())}, DType::f8_e4m3));
}

// Waits for the default stream. A kernel that never finishes (a pipeline barrier
// waiting for an arrival that never comes) would otherwise hang the test run and
// the GPU check with it: after 120 s, far beyond any of these GEMMs, the process
// ends with a message instead. Faults inside the kernel come back as Error here.
void finish_or_exit() {
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    const cudaError_t status = cudaStreamQuery(nullptr);
    if (status == cudaSuccess) return;
    if (status != cudaErrorNotReady) SADARI_CUDA_CHECK(status);
    if (std::chrono::steady_clock::now() - start > std::chrono::seconds(120)) {
      std::fprintf(stderr,
                   "fp8_gemm_sm90_test: the kernel has not finished after 120 s: it hangs "
                   "(an mbarrier waits forever); ending the process\n");
      std::fflush(nullptr);
      std::_Exit(3);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// |x| of every code: E4M3's sign is bit 7.
std::vector<uint8_t> abs_codes(const std::vector<uint8_t>& q) {
  std::vector<uint8_t> out(q.size());
  for (size_t i = 0; i < q.size(); ++i) out[i] = q[i] & 0x7F;
  return out;
}

// ref = A . B^T and bound = the tolerance above, for A rows [r0, r0 + rows) of a
// 1x128-tiled A and a 128x128-blocked B, written into ref/bound at row r0.
void reference_rows(const Operand& A, const Operand& B, int64_t r0, int64_t rows, int64_t N,
                    int64_t K, std::vector<float>& ref, std::vector<float>& bound) {
  if (rows == 0) return;
  const int64_t kb = K / 128;
  const Fp8View a{A.q.data() + r0 * K, A.scales.data() + r0 * kb, rows, K,
                  Fp8Format::e4m3, cpu::Fp8Tiling::tiles_1x128, "A"};
  const Fp8View b{B.q.data(), B.scales.data(), N, K, Fp8Format::e4m3,
                  cpu::Fp8Tiling::blocks_128x128, "B"};
  cpu::fp8_gemm_nt(a, b, ref.data() + r0 * N, N);
  const auto abs_a = abs_codes(A.q), abs_b = abs_codes(B.q);
  Fp8View aa = a, ab = b;
  aa.q = abs_a.data() + r0 * K;
  ab.q = abs_b.data();
  cpu::fp8_gemm_nt(aa, ab, bound.data() + r0 * N, N);  // S = sum_k |a_k b_k|
}

// Runs the GPU GEMM (dense when offsets is empty) and checks it against the CPU.
// Returns the GPU result (as floats) for further checks.
std::vector<float> run_and_check(const Operand& A, const Operand& B, int64_t M, int64_t N,
                                 int64_t K, DType out, const std::vector<int64_t>& offsets = {}) {
  const bool grouped = !offsets.empty();
  const int64_t experts = grouped ? int64_t(offsets.size()) - 1 : 1;
  SCOPED_TRACE(::testing::Message() << (grouped ? "grouped" : "dense") << " M=" << M << " N="
                                    << N << " K=" << K << " E=" << experts
                                    << " out=" << dtype_name(out));
  std::vector<float> ref(size_t(M * N)), bound(size_t(M * N));
  if (!grouped) {
    reference_rows(A, B, 0, M, N, K, ref, bound);
  } else {
    const int64_t b_codes = N * K, b_scales = ((N + 127) / 128) * (K / 128);
    for (int64_t e = 0; e < experts; ++e) {
      const Operand Be{{B.q.begin() + e * b_codes, B.q.begin() + (e + 1) * b_codes},
                       {B.scales.begin() + e * b_scales, B.scales.begin() + (e + 1) * b_scales}};
      reference_rows(A, Be, offsets[e], offsets[e + 1] - offsets[e], N, K, ref, bound);
    }
  }

  const Tensor a = upload_codes(A.q), as = upload(A.scales), b = upload_codes(B.q),
               bs = upload(B.scales);
  const Tensor d = test::device_zeros<float>(M * N);  // big enough for either type
  if (grouped)
    fp8_gemm_sm90_grouped_nt(ptr<uint8_t>(a), ptr<float>(as), ptr<uint8_t>(b), ptr<float>(bs),
                             d.raw(), out, offsets.data(), experts, N, K, nullptr);
  else
    fp8_gemm_sm90_nt(ptr<uint8_t>(a), ptr<float>(as), ptr<uint8_t>(b), ptr<float>(bs), d.raw(),
                     out, M, N, K, nullptr);
  finish_or_exit();

  std::vector<float> got(size_t(M * N));
  if (out == DType::f32) {
    got = download<float>(d, M * N);
  } else {
    const auto bits = download<uint16_t>(d, M * N);
    for (size_t i = 0; i < bits.size(); ++i) got[i] = bf16_to_f32(bits[i]);
  }

  size_t bad = 0, worst = 0;
  double worst_ratio = 0;  // largest |error| / tolerance seen
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(double(got[i]) - double(ref[i]));
    double tol = std::ldexp(double(bound[i]), -9);
    if (out == DType::bf16) tol += std::ldexp(std::fabs(double(ref[i])), -8);
    const double ratio = tol > 0 ? err / tol : (err > 0 ? INFINITY : 0);
    if (!(ratio <= 1)) ++bad;
    if (!(ratio <= worst_ratio)) worst_ratio = ratio, worst = i;
  }
  EXPECT_EQ(bad, 0u) << bad << " of " << got.size() << " elements outside the bound; worst at ("
                     << worst / N << ", " << worst % N << "): got " << got[worst] << ", want "
                     << ref[worst] << ", S = " << bound[worst];
  // Seen in the log of a GPU run: how close to the bound the kernel comes.
  std::printf("  fp8_gemm_sm90 %s M=%lld N=%lld K=%lld %s: worst error / bound = %.3g\n",
              grouped ? "grouped" : "dense", (long long)M, (long long)N, (long long)K,
              std::string(dtype_name(out)).c_str(), worst_ratio);
  return got;
}

Operand activations(int64_t rows, int64_t K, uint64_t seed,
                    const std::vector<bool>& zero_rows = {}) {
  auto x = cpu::gaussian(rows * K, seed);
  for (int64_t r = 0; r < int64_t(zero_rows.size()); ++r)
    if (zero_rows[r])
      for (int64_t k = 0; k < K; ++k) x[r * K + k] = 0.f;
  Fp8Matrix m = Fp8Matrix::tiles(x.data(), rows, K, {}, "A");
  return {std::move(m.q), std::move(m.scales)};
}

Operand weights(int64_t rows, int64_t K, uint64_t seed) {
  // A spread of magnitudes across blocks (sigma 0.05 .. 0.55), as trained weights
  // have, so that a scale taken from the wrong block shows.
  auto w = cpu::gaussian(rows * K, seed, 0.05f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < K; ++k) w[r * K + k] *= float(1 + ((r / 128) * 7 + (k / 128) * 3) % 11);
  Fp8Matrix m = Fp8Matrix::blocks(w.data(), rows, K, {}, "B");
  return {std::move(m.q), std::move(m.scales)};
}

TEST(CudaFp8GemmSm90, DenseMatchesCpu) {
  SADARI_REQUIRE_GPU();
  struct Shape {
    int64_t M, N, K;
  };
  // 128^3: one tile, one K block. 256 x 384 x 512: non-square. 384 x 256 x 2048:
  // 16 K blocks, the 6-stage ring wraps. 2048 x 1280 x 640: 160 tiles, more than
  // an H100/H200 has SMs (132), so CTAs walk several tiles and the ring runs on
  // across tiles with K blocks (5) not a multiple of the stage count.
  // 200 x 2112 x 256 and 72 x 66 x 128: partial last M and N blocks (TMA zero
  // fill, scale and store guards; 2112 = 16.5 x 128 is DeepSeek-V3's q/kv-a width).
  for (const Shape s : {Shape{128, 128, 128}, Shape{256, 384, 512}, Shape{384, 256, 2048},
                        Shape{2048, 1280, 640}, Shape{200, 2112, 256}, Shape{72, 66, 128}}) {
    const Operand A = activations(s.M, s.K, 11 + s.K), B = weights(s.N, s.K, 23 + s.N);
    for (DType out : {DType::bf16, DType::f32}) run_and_check(A, B, s.M, s.N, s.K, out);
  }
}

TEST(CudaFp8GemmSm90, GroupedUnevenExpertsIncludingAnEmptyOne) {
  SADARI_REQUIRE_GPU();
  // Tokens per expert 100, 300, 0, 256, each padded to a multiple of 128; the
  // padding rows are zeros (their codes 0, scale 1), so their output must be 0.
  const std::vector<int64_t> tokens = {100, 300, 0, 256};
  std::vector<int64_t> offsets = {0};
  std::vector<bool> zero_rows;
  for (int64_t t : tokens) {
    const int64_t padded = (t + 127) / 128 * 128;
    for (int64_t r = 0; r < padded; ++r) zero_rows.push_back(r >= t);
    offsets.push_back(offsets.back() + padded);
  }
  const int64_t E = 4, M = offsets.back(), N = 320, K = 1024;  // N: 2.5 blocks
  const Operand A = activations(M, K, 5, zero_rows);
  Operand B;  // experts quantised one by one: [E][N][K], scales [E][3][K/128]
  for (int64_t e = 0; e < E; ++e) {
    const Operand Be = weights(N, K, 7 + e);
    B.q.insert(B.q.end(), Be.q.begin(), Be.q.end());
    B.scales.insert(B.scales.end(), Be.scales.begin(), Be.scales.end());
  }
  for (DType out : {DType::bf16, DType::f32}) {
    const auto got = run_and_check(A, B, M, N, K, out, offsets);
    for (int64_t r = 0; r < M; ++r) {
      if (!zero_rows[r]) continue;
      for (int64_t n = 0; n < N; ++n) ASSERT_EQ(got[r * N + n], 0.f) << "padding row " << r;
    }
  }
}

TEST(CudaFp8GemmSm90, GroupedWithOneExpertEqualsDenseAndRepeats) {
  SADARI_REQUIRE_GPU();
  const int64_t M = 256, N = 256, K = 384;
  const Operand A = activations(M, K, 3), B = weights(N, K, 4);
  const auto dense = run_and_check(A, B, M, N, K, DType::f32);
  const auto again = run_and_check(A, B, M, N, K, DType::f32);
  const auto grouped = run_and_check(A, B, M, N, K, DType::f32, {0, M});
  for (size_t i = 0; i < dense.size(); ++i) {
    ASSERT_EQ(dense[i], again[i]) << "not repeatable at " << i;
    ASSERT_EQ(dense[i], grouped[i]) << "grouped(E = 1) differs from dense at " << i;
  }
}

// ---- argument checks: before any device call, so these run without a GPU ----

template <typename F>
void expect_error(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no Error thrown; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << "message: " << e.what() << "\nexpected to mention: " << needle;
  }
}

TEST(CudaFp8GemmSm90, RejectsBadShapesBeforeTouchingTheDevice) {
  const auto* q = reinterpret_cast<const uint8_t*>(uintptr_t(0x10000));
  const auto* s = reinterpret_cast<const float*>(uintptr_t(0x20000));
  auto* d = reinterpret_cast<void*>(uintptr_t(0x30000));
  auto dense = [&](int64_t M, int64_t N, int64_t K, DType t = DType::bf16) {
    return [=] { fp8_gemm_sm90_nt(q, s, q, s, d, t, M, N, K, nullptr); };
  };
  expect_error(dense(-128, 128, 128), "M = -128");
  expect_error(dense(128, 201, 128), "N = 201");
  expect_error(dense(128, 0, 128), "N = 0");
  expect_error(dense(128, 128, 96), "K = 96");
  expect_error(dense(128, 128, 128, DType::f64), "output type f64");
  // M == 0 is a no-op: no error, no device call, null pointers allowed.
  EXPECT_NO_THROW(fp8_gemm_sm90_nt(nullptr, nullptr, nullptr, nullptr, nullptr, DType::f32, 0,
                                   128, 128, nullptr));
  // Good shapes, bad pointers.
  expect_error([&] { fp8_gemm_sm90_nt(nullptr, s, q, s, d, DType::f32, 128, 128, 128, nullptr); },
               "null");
  expect_error([&] { fp8_gemm_sm90_nt(q + 8, s, q, s, d, DType::f32, 128, 128, 128, nullptr); },
               "16-byte aligned");
  expect_error(
      [&] {
        fp8_gemm_sm90_nt(q, s, q, s, static_cast<char*>(d) + 4, DType::f32, 128, 128, 128,
                         nullptr);
      },
      "misaligned");
}

TEST(CudaFp8GemmSm90, RejectsBadExpertOffsetsBeforeTouchingTheDevice) {
  const auto* q = reinterpret_cast<const uint8_t*>(uintptr_t(0x10000));
  const auto* s = reinterpret_cast<const float*>(uintptr_t(0x20000));
  auto* d = reinterpret_cast<void*>(uintptr_t(0x30000));
  auto grouped = [&](std::vector<int64_t> offsets, int64_t E) {
    return [=] {
      fp8_gemm_sm90_grouped_nt(q, s, q, s, d, DType::bf16, offsets.data(), E, 256, 256, nullptr);
    };
  };
  expect_error(grouped({0, 128, 200, 384}, 3), "expert 1 has 72 rows");
  expect_error(grouped({0, 256, 128}, 2), "expert 1 has -128 rows");
  expect_error(grouped({128, 256}, 1), "row_offsets[0] = 128");
  expect_error(grouped({0}, 0), "num_experts = 0");
  expect_error(grouped(std::vector<int64_t>(kFp8Sm90MaxExperts + 2, 0), kFp8Sm90MaxExperts + 1),
               "num_experts");
  expect_error(
      [&] {
        fp8_gemm_sm90_grouped_nt(q, s, q, s, d, DType::bf16, nullptr, 2, 256, 256, nullptr);
      },
      "row_offsets is null");
  // All experts empty: a no-op.
  const std::vector<int64_t> empty = {0, 0, 0};
  EXPECT_NO_THROW(fp8_gemm_sm90_grouped_nt(nullptr, nullptr, nullptr, nullptr, nullptr,
                                           DType::bf16, empty.data(), 2, 256, 256, nullptr));
}

}  // namespace
}  // namespace sadari::cuda
