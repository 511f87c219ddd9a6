// cuda::Fp8GemmLt (cuBLASLt block-scaled FP8) against cpu::fp8_gemm_nt, the CPU
// reference of the same definition, plus the scale-layout preparation and the shape
// errors.
//
// Two kinds of data:
// - exact: codes in {0, +-1, +-2} and power-of-two scales in [1/4, 4]. Every block sum
//   is an integer of magnitude <= 512 and every partial sum over blocks a multiple of
//   2^-4 below 2^19, so ANY summation order, in fp32 or in the tensor cores' narrower
//   FP8 accumulator, gives the exact result, and the CPU reference is exact too. The
//   f32 output must then equal it bit for bit: a scale read from the wrong place
//   (layout, padding, transposition, expert offset) cannot hide in a tolerance.
// - Gaussian: N(0,1) data whose magnitude changes per tile (by 2^-2 .. 2^2, so the
//   scales differ tile to tile), quantised by the CPU kernels (1x128 tiles for A,
//   128x128 blocks for B). Bound, with S = sum_k |a_k b_k| (computed by the same
//   reference on the codes' absolute values):
//     |D - D_ref| <= 2^-9 S  (+ 2^-8 |D_ref| for a bf16 D: its rounding, 2^-9, twice)
//   The CPU side is within (K + 2) 2^-24 S of the definition (fp8_gemm.h). On the GPU,
//   Hopper's FP8 tensor cores add inside each 128-block with a narrower accumulator
//   than fp32 (about 14 significant bits, per DeepSeek-V3's report; that is why the
//   scheme promotes every 128 of K), so the per-block error can approach 2^-13 of
//   that block's sum of |products| per addition step; 2^-9 S leaves room for that
//   while a misplaced scale on this data is off by O(|D|) ~ 2^-6 S or more.
//
// The GPU tests skip without a GPU; the shape checks run everywhere (they throw
// before touching a device).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/bf16.h"
#include "core/error.h"
#include "core/fp8.h"
#include "kernels/cpu/fp8_gemm.h"
#include "kernels/cpu/fp8_quantize.h"
#include "kernels/cuda/fp8_gemm_lt.h"
#include "tests/cuda/cuda_test_util.h"
#include "tests/kernels/gaussian.h"

namespace sadari::cuda {
namespace {

using cpu::Fp8Matrix;
using cpu::Fp8Tiling;
using cpu::Fp8View;
using test::download;
using test::ptr;
using test::upload;

constexpr int64_t kT = 128;
int64_t tiles(int64_t n) { return (n + kT - 1) / kT; }

enum class Data { exact, gaussian };

// 2^(e - 2) for e in [0, 4]: the per-tile magnitude pattern, different along both
// dimensions so that swapped or transposed scale indices give different values.
float pattern(int64_t i, int64_t j, int64_t a, int64_t b) {
  return std::ldexp(1.0f, int((i * a + j * b) % 5) - 2);
}

// An operand quantised along K: tiles_1x128 (activations) or blocks_128x128 (weights).
Fp8Matrix make_operand(Data kind, int64_t rows, int64_t K, Fp8Tiling tiling, uint64_t seed,
                       const char* name) {
  const bool act = tiling == Fp8Tiling::tiles_1x128;
  if (kind == Data::gaussian) {
    std::vector<float> x = cpu::gaussian(rows * K, seed);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < K; ++k)
        x[r * K + k] *= act ? pattern(r, k / kT, 3, 1) : pattern(r / kT, k / kT, 1, 2);
    return act ? Fp8Matrix::tiles(x.data(), rows, K, {}, name)
               : Fp8Matrix::blocks(x.data(), rows, K, {}, name);
  }
  Fp8Matrix m;
  m.rows = rows, m.cols = K, m.tiling = tiling, m.name = name;
  m.q.resize(size_t(rows * K));
  std::mt19937_64 rng(seed);
  for (auto& q : m.q) q = fp8_encode(float(int(rng() % 5) - 2), Fp8Format::e4m3);
  const int64_t srows = act ? rows : tiles(rows), scols = tiles(K);
  m.scales.resize(size_t(srows * scols));
  for (int64_t r = 0; r < srows; ++r)
    for (int64_t c = 0; c < scols; ++c)
      m.scales[size_t(r * scols + c)] = act ? pattern(r, c, 3, 1) : pattern(r, c, 1, 2);
  return m;
}

// |codes|: E4M3's sign is the top bit.
Fp8Matrix abs_of(Fp8Matrix m) {
  for (auto& q : m.q) q &= 0x7F;
  return m;
}

Tensor upload_codes(const std::vector<uint8_t>& q) {
  std::vector<uint8_t> padded = q.empty() ? std::vector<uint8_t>(16) : q;
  return to_device(Tensor::wrap(padded.data(), {int64_t(padded.size())}, DType::f8_e4m3));
}

struct Case {
  std::vector<int64_t> rows;  // per expert; one entry and `single` = gemm_nt
  int64_t N, K;
  DType d_type;
  Data data;
  bool single = false;
};

std::string describe(const Case& c) {
  std::ostringstream rows;
  for (size_t e = 0; e < c.rows.size(); ++e) rows << (e ? "," : "") << c.rows[e];
  return detail::cat("rows {", rows.str(), "} N=", c.N, " K=", c.K, " D ", dtype_name(c.d_type),
                     c.data == Data::exact ? " exact" : " gaussian",
                     c.single ? " gemm_nt" : " grouped_nt");
}

// Runs one case on the GPU and compares with the CPU reference. Returns the largest
// |D - D_ref| / S seen (for the log: how much of the bound is used).
double check(Fp8GemmLt& lt, const Case& c, uint64_t seed) {
  SCOPED_TRACE(describe(c));
  const int64_t E = int64_t(c.rows.size()), N = c.N, K = c.K, L = tiles(K);
  const int64_t M = std::accumulate(c.rows.begin(), c.rows.end(), int64_t(0));
  const Fp8Matrix A = make_operand(c.data, M, K, Fp8Tiling::tiles_1x128, seed, "A");
  std::vector<Fp8Matrix> B;
  std::vector<uint8_t> B_q;
  std::vector<float> B_scales;
  for (int64_t e = 0; e < E; ++e) {
    B.push_back(make_operand(c.data, N, K, Fp8Tiling::blocks_128x128, seed + 1 + e, "B"));
    B_q.insert(B_q.end(), B.back().q.begin(), B.back().q.end());
    B_scales.insert(B_scales.end(), B.back().scales.begin(), B.back().scales.end());
  }

  // Reference and bound, expert by expert.
  std::vector<float> ref(size_t(M * N)), bound(size_t(M * N));
  const Fp8Matrix A_abs = abs_of(A);
  for (int64_t e = 0, row = 0; e < E; row += c.rows[e], ++e) {
    if (c.rows[e] == 0) continue;
    auto slice = [&](const Fp8Matrix& m) {
      Fp8View v = m.view();
      v.q += row * K, v.scales += row * L, v.rows = c.rows[e];
      return v;
    };
    cpu::fp8_gemm_nt(slice(A), B[e].view(), ref.data() + row * N, N);
    const Fp8Matrix B_abs = abs_of(B[e]);
    cpu::fp8_gemm_nt(slice(A_abs), B_abs.view(), bound.data() + row * N, N);
  }

  // Device: codes, CPU-layout scales, prepared scales, D.
  Tensor dA = upload_codes(A.q), dB = upload_codes(B_q);
  Tensor dA_cpu_scales = upload(A.scales), dB_cpu_scales = upload(B_scales);
  Tensor dA_scales = test::device_zeros<float>(fp8_lt_act_scales_size(M, K));
  Tensor dB_scales = test::device_zeros<float>(fp8_lt_weight_scales_size(E, N, K));
  fp8_lt_prepare_weight_scales(ptr<float>(dB_cpu_scales), E, N, K, ptr<float>(dB_scales),
                               nullptr);
  const bool bf16 = c.d_type == DType::bf16;
  Tensor dD = bf16 ? test::device_zeros<uint16_t>(M * N) : test::device_zeros<float>(M * N);
  if (c.single) {
    fp8_lt_prepare_act_scales(ptr<float>(dA_cpu_scales), M, K, ptr<float>(dA_scales), nullptr);
    lt.gemm_nt(M, N, K, ptr<uint8_t>(dA), ptr<float>(dA_scales), ptr<uint8_t>(dB),
               ptr<float>(dB_scales), dD.raw(), c.d_type, nullptr);
  } else {
    fp8_lt_prepare_act_scales_grouped(ptr<float>(dA_cpu_scales), c.rows, K,
                                      ptr<float>(dA_scales), nullptr);
    lt.grouped_nt(c.rows, N, K, ptr<uint8_t>(dA), ptr<float>(dA_scales), ptr<uint8_t>(dB),
                  ptr<float>(dB_scales), dD.raw(), c.d_type, nullptr);
  }
  std::vector<float> got;
  if (bf16)
    for (uint16_t bits : download<uint16_t>(dD, M * N)) got.push_back(bf16_to_f32(bits));
  else
    got = download<float>(dD, M * N);

  double worst = 0;
  int64_t bad = 0;
  for (int64_t i = 0; i < M * N; ++i) {
    const double g = got[size_t(i)], r = ref[size_t(i)], s = bound[size_t(i)];
    const double err = std::fabs(g - r);
    double tol;
    if (c.data == Data::exact)
      tol = bf16 ? std::ldexp(std::fabs(r), -8) : 0.0;
    else
      tol = std::ldexp(s, -9) + (bf16 ? std::ldexp(std::fabs(r), -8) : 0.0);
    if (s > 0) worst = std::max(worst, err / s);
    if (!(err <= tol) && bad++ < 5)
      ADD_FAILURE() << "D[" << i / N << "," << i % N << "] = " << g << ", want " << r
                    << " (tol " << tol << ", sum|ab| " << s << ")";
  }
  EXPECT_EQ(bad, 0) << "elements out of tolerance";
  std::printf("  %s: max |D - ref| / sum|ab| = %.3g\n", describe(c).c_str(), worst);
  return worst;
}

TEST(CudaFp8GemmLt, ExactDataMatchesCpuBitForBit) {
  SADARI_REQUIRE_GPU();
  Fp8GemmLt lt;
  // K = 640 and 1152: L = 5 and 9 K-blocks, so the weight scales' padding to a
  // multiple of 4 matters; K = 512: L = 4, none.
  check(lt, {{256}, 384, 640, DType::f32, Data::exact, true}, 11);
  check(lt, {{128}, 256, 1152, DType::f32, Data::exact, true}, 12);
  check(lt, {{384}, 128, 512, DType::f32, Data::exact, true}, 13);
  check(lt, {{256}, 384, 640, DType::bf16, Data::exact, true}, 14);
}

TEST(CudaFp8GemmLt, GaussianDataWithinBound) {
  SADARI_REQUIRE_GPU();
  Fp8GemmLt lt;
  check(lt, {{256}, 384, 640, DType::f32, Data::gaussian, true}, 21);
  check(lt, {{256}, 384, 640, DType::bf16, Data::gaussian, true}, 22);
  check(lt, {{128}, 512, 2176, DType::bf16, Data::gaussian, true}, 23);  // L = 17
}

TEST(CudaFp8GemmLt, GroupedUnevenExpertsWithAnEmptyOne) {
  SADARI_REQUIRE_GPU();
  Fp8GemmLt lt;
  check(lt, {{256, 0, 128, 384}, 256, 640, DType::f32, Data::exact}, 31);
  // One plan per distinct expert row count (alignments are all equal here).
  EXPECT_EQ(lt.cached_plans(), 3u);
  check(lt, {{0, 384, 128, 0, 256}, 256, 896, DType::bf16, Data::gaussian}, 32);
  check(lt, {{0, 0}, 128, 128, DType::bf16, Data::gaussian}, 33);  // nothing to do
  SADARI_CUDA_CHECK(cudaDeviceSynchronize());
}

TEST(CudaFp8GemmLt, PreparedScalesFollowTheDocumentedLayout) {
  SADARI_REQUIRE_GPU();
  const int64_t K = 640, L = 5, L4 = 8, N = 256, Nb = 2, E = 2;
  const std::vector<int64_t> rows{256, 0, 128};
  const int64_t M = 384;
  std::vector<float> a(size_t(M * L)), b(size_t(E * Nb * L));
  std::iota(a.begin(), a.end(), 1.f);
  std::iota(b.begin(), b.end(), 1.f);
  Tensor da = upload(a), db = upload(b);
  Tensor out_a = test::device_zeros<float>(fp8_lt_act_scales_size(M, K));
  Tensor out_a1 = test::device_zeros<float>(fp8_lt_act_scales_size(M, K));
  Tensor out_b = test::device_zeros<float>(fp8_lt_weight_scales_size(E, N, K));
  ASSERT_EQ(fp8_lt_weight_scales_size(E, N, K), E * Nb * L4);
  fp8_lt_prepare_act_scales_grouped(ptr<float>(da), rows, K, ptr<float>(out_a), nullptr);
  fp8_lt_prepare_act_scales(ptr<float>(da), M, K, ptr<float>(out_a1), nullptr);
  fp8_lt_prepare_weight_scales(ptr<float>(db), E, N, K, ptr<float>(out_b), nullptr);
  const auto got_a = download<float>(out_a, M * L), got_a1 = download<float>(out_a1, M * L);
  const auto got_b = download<float>(out_b, E * Nb * L4);
  // Activations: [L][M] row-major (M contiguous); grouped: per expert at r_e * L.
  for (int64_t m = 0; m < M; ++m)
    for (int64_t kb = 0; kb < L; ++kb) ASSERT_EQ(got_a1[kb * M + m], a[m * L + kb]);
  for (int64_t e = 0, r = 0; e < int64_t(rows.size()); r += rows[e], ++e)
    for (int64_t i = 0; i < rows[e]; ++i)
      for (int64_t kb = 0; kb < L; ++kb)
        ASSERT_EQ(got_a[r * L + kb * rows[e] + i], a[(r + i) * L + kb]) << "expert " << e;
  // Weights: [E][Nb][L4] row-major, padding zero.
  for (int64_t r = 0; r < E * Nb; ++r)
    for (int64_t kb = 0; kb < L4; ++kb)
      ASSERT_EQ(got_b[r * L4 + kb], kb < L ? b[r * L + kb] : 0.f);
}

TEST(CudaFp8GemmLt, BadArgumentsOnTheDeviceThrow) {
  SADARI_REQUIRE_GPU();
  Fp8GemmLt lt;
  Tensor buf = test::device_zeros<float>(1 << 16);
  auto* q = ptr<uint8_t>(buf);
  auto* s = ptr<float>(buf);
  EXPECT_THROW(lt.gemm_nt(100, 128, 128, q, s, q, s, s, DType::f32, nullptr), Error);
  EXPECT_THROW(lt.gemm_nt(128, 128, 128, q + 1, s, q, s, s, DType::f32, nullptr), Error);
  EXPECT_THROW(lt.gemm_nt(128, 128, 128, q, s, q, nullptr, s, DType::f32, nullptr), Error);
  EXPECT_THROW(lt.grouped_nt(std::vector<int64_t>{128, 64}, 128, 128, q, s, q, s, s,
                             DType::bf16, nullptr),
               Error);
  EXPECT_NO_THROW(lt.gemm_nt(0, 128, 128, nullptr, nullptr, nullptr, nullptr, nullptr,
                             DType::f32, nullptr));
}

// ---- without a GPU: the checks run before any device call ------------------------

std::string message_of(auto&& call) {
  try {
    call();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(CudaFp8GemmLtShapes, RejectsShapesThatAreNotMultiplesOf128) {
  EXPECT_NO_THROW(Fp8GemmLt::check_shape(256, 384, 640, DType::bf16));
  EXPECT_NO_THROW(Fp8GemmLt::check_shape(0, 128, 128, DType::f32));
  EXPECT_NE(message_of([] { Fp8GemmLt::check_shape(100, 128, 128, DType::f32); }).find("M=100"),
            std::string::npos);
  EXPECT_NE(message_of([] { Fp8GemmLt::check_shape(128, 200, 128, DType::f32); }).find("N=200"),
            std::string::npos);
  EXPECT_NE(message_of([] { Fp8GemmLt::check_shape(128, 128, 192, DType::f32); }).find("K=192"),
            std::string::npos);
  EXPECT_THROW(Fp8GemmLt::check_shape(128, 128, 0, DType::f32), Error);
  EXPECT_THROW(Fp8GemmLt::check_shape(128, 0, 128, DType::f32), Error);
  EXPECT_THROW(Fp8GemmLt::check_shape(-128, 128, 128, DType::f32), Error);
  EXPECT_NE(message_of([] { Fp8GemmLt::check_shape(128, 128, 128, DType::f8_e4m3); })
                .find("output type"),
            std::string::npos);
  const std::vector<int64_t> good{128, 0, 384}, bad{128, 0, 64};
  EXPECT_NO_THROW(Fp8GemmLt::check_grouped_shape(good, 256, 512, DType::bf16));
  EXPECT_NE(message_of([&] { Fp8GemmLt::check_grouped_shape(bad, 256, 512, DType::bf16); })
                .find("rows of expert 2=64"),
            std::string::npos);
}

TEST(CudaFp8GemmLtShapes, PrepareStepsCheckShapesAndAlignmentBeforeLaunching) {
  // Fake device addresses: the checks must throw before anything dereferences them.
  auto* aligned = reinterpret_cast<float*>(uintptr_t(4096));
  auto* misaligned = reinterpret_cast<float*>(uintptr_t(4100));
  EXPECT_THROW(fp8_lt_prepare_act_scales(aligned, 100, 128, aligned, nullptr), Error);
  EXPECT_THROW(fp8_lt_prepare_act_scales(aligned, 128, 130, aligned, nullptr), Error);
  EXPECT_NE(message_of([&] { fp8_lt_prepare_act_scales(misaligned, 128, 128, aligned, nullptr); })
                .find("16-byte aligned"),
            std::string::npos);
  EXPECT_THROW(fp8_lt_prepare_weight_scales(aligned, 1, 100, 128, aligned, nullptr), Error);
  EXPECT_THROW(fp8_lt_prepare_weight_scales(aligned, 0, 128, 128, aligned, nullptr), Error);
  EXPECT_THROW(fp8_lt_prepare_weight_scales(aligned, 1, 128, 128, misaligned, nullptr), Error);
  EXPECT_THROW(fp8_lt_prepare_act_scales_grouped(aligned, std::vector<int64_t>{128, 1}, 128,
                                                 aligned, nullptr),
               Error);
  // Sizes of the cuBLASLt-layout buffers: L = ceil(K/128); weights pad L to 4.
  EXPECT_EQ(fp8_lt_act_scales_size(256, 640), 256 * 5);
  EXPECT_EQ(fp8_lt_weight_scales_size(1, 384, 640), 3 * 8);
  EXPECT_EQ(fp8_lt_weight_scales_size(4, 128, 512), 4 * 1 * 4);
}

}  // namespace
}  // namespace sadari::cuda
