// cuda::GemmLt against cpu::gemm (double, as the exact reference) for every
// transposition, padded leading dimensions, alpha/beta, f32 and bf16 operands,
// misaligned views, K == 0, and the plan cache.
//
// Tolerance: with f32 accumulation, each C element is off by at most about
// K * 2^-24 * (|alpha| sum_k |a_ik b_kj| + |beta c_ij|) whatever order the
// products are added in; we allow 4x that (plus 1e-6 absolute). bf16 inputs are
// rounded to bf16 on the host first, so their products are exact in f32 and the
// same bound holds; a bf16 C adds its own rounding, 2^-8 relative.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/bf16.h"
#include "core/error.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cuda/gemm_lt.h"
#include "tests/cuda/cuda_test_util.h"

namespace sadari::cuda {
namespace {

using test::download;
using test::ptr;
using test::random_floats;
using test::upload;

constexpr double kUlp = 1.0 / (1 << 24);

struct Problem {
  bool trans_a, trans_b;
  int64_t M, N, K;
  int64_t pad = 0;  // extra elements per stored row of A, B and C
  float alpha = 1.f, beta = 0.f;
};

std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }
std::vector<double> abs_of(const std::vector<float>& v) {
  std::vector<double> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = std::fabs(double(v[i]));
  return out;
}
std::vector<float> rounded_to_bf16(std::vector<float> v) {
  for (auto& x : v) x = round_to_bf16(x);
  return v;
}
std::vector<uint16_t> bf16_bits(const std::vector<float>& v) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = sadari::f32_to_bf16(v[i]);
  return out;
}

// Runs one problem on the GPU and checks it against the CPU. `ab` and `c` pick the
// types; `offset_a` shifts A by that many elements (a misaligned view).
void check(GemmLt& lt, const Problem& p, DType ab, DType c, int64_t offset_a = 0,
           uint64_t seed = 1) {
  SCOPED_TRACE(::testing::Message() << "trans " << p.trans_a << p.trans_b << " M=" << p.M
                                    << " N=" << p.N << " K=" << p.K << " pad=" << p.pad
                                    << " A/B " << dtype_name(ab) << " C " << dtype_name(c)
                                    << " offset_a=" << offset_a);
  const int64_t a_rows = p.trans_a ? p.K : p.M, a_cols = p.trans_a ? p.M : p.K;
  const int64_t b_rows = p.trans_b ? p.N : p.K, b_cols = p.trans_b ? p.K : p.N;
  const int64_t lda = a_cols + p.pad, ldb = b_cols + p.pad, ldc = p.N + p.pad;
  auto A = random_floats(offset_a + a_rows * lda, seed);
  auto B = random_floats(b_rows * ldb, seed + 1);
  auto C = random_floats(p.M * ldc, seed + 2);
  if (ab == DType::bf16) A = rounded_to_bf16(A), B = rounded_to_bf16(B);
  if (c == DType::bf16) C = rounded_to_bf16(C);

  std::vector<double> ref = to_double(C), bound = abs_of(C);
  const std::vector<double> A_off(A.begin() + offset_a, A.end());
  const auto absA = abs_of(std::vector<float>(A.begin() + offset_a, A.end()));
  cpu::gemm<double>(p.trans_a, p.trans_b, p.M, p.N, p.K, p.alpha, A_off.data(), lda,
                    to_double(B).data(), ldb, p.beta, ref.data(), ldc);
  cpu::gemm<double>(p.trans_a, p.trans_b, p.M, p.N, p.K, std::fabs(p.alpha), absA.data(), lda,
                    abs_of(B).data(), ldb, std::fabs(p.beta), bound.data(), ldc);

  std::vector<float> got;
  if (ab == DType::f32) {
    Tensor dA = upload(A), dB = upload(B), dC = upload(C);
    lt.gemm(p.trans_a, p.trans_b, p.M, p.N, p.K, p.alpha, ptr<float>(dA) + offset_a, lda,
            ptr<float>(dB), ldb, p.beta, ptr<float>(dC), ldc, ab, c, nullptr);
    got = download<float>(dC, p.M * ldc);
  } else {
    Tensor dA = upload(bf16_bits(A)), dB = upload(bf16_bits(B));
    if (c == DType::f32) {
      Tensor dC = upload(C);
      lt.gemm(p.trans_a, p.trans_b, p.M, p.N, p.K, p.alpha, ptr<uint16_t>(dA) + offset_a, lda,
              ptr<uint16_t>(dB), ldb, p.beta, ptr<float>(dC), ldc, ab, c, nullptr);
      got = download<float>(dC, p.M * ldc);
    } else {
      Tensor dC = upload(bf16_bits(C));
      lt.gemm(p.trans_a, p.trans_b, p.M, p.N, p.K, p.alpha, ptr<uint16_t>(dA) + offset_a, lda,
              ptr<uint16_t>(dB), ldb, p.beta, ptr<uint16_t>(dC), ldc, ab, c, nullptr);
      for (uint16_t bits : download<uint16_t>(dC, p.M * ldc)) got.push_back(sadari::bf16_to_f32(bits));
    }
  }

  const double out_rounding = c == DType::bf16 ? 1.0 / 256 : 0.0;
  int64_t bad = 0;
  for (int64_t i = 0; i < p.M; ++i)
    for (int64_t j = 0; j < p.N; ++j) {
      const int64_t k = i * ldc + j;
      const double tol = 4 * double(p.K + 1) * kUlp * bound[k] + out_rounding * std::fabs(ref[k]) + 1e-6;
      if (!(std::fabs(double(got[k]) - ref[k]) <= tol) && bad++ < 5)
        ADD_FAILURE() << "C[" << i << "," << j << "] = " << got[k] << ", want " << ref[k]
                      << " (tol " << tol << ")";
    }
  EXPECT_EQ(bad, 0) << "elements out of tolerance";
  // The padding between rows of C is never written.
  for (int64_t i = 0; i < p.M; ++i)
    for (int64_t j = p.N; j < ldc; ++j) {
      const float want = C[i * ldc + j];
      ASSERT_EQ(got[i * ldc + j], want) << "padding of C written at " << i << "," << j;
    }
}

TEST(CudaGemmLt, F32AllTranspositionsMatchCpu) {
  SADARI_REQUIRE_GPU();
  GemmLt lt;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      check(lt, {ta, tb, 67, 45, 129}, DType::f32, DType::f32);
      check(lt, {ta, tb, 64, 128, 256, /*pad=*/3, /*alpha=*/0.7f, /*beta=*/-0.3f}, DType::f32,
            DType::f32);
    }
}

TEST(CudaGemmLt, F32LargerShapeAndTf32Off) {
  SADARI_REQUIRE_GPU();
  // With TF32 (10-bit mantissa) the error would be ~2^-11 relative, far outside the
  // f32 bound: this also checks that f32 means f32.
  GemmLt lt;
  check(lt, {false, true, 512, 384, 1024}, DType::f32, DType::f32);
}

TEST(CudaGemmLt, Bf16InputsWithF32AndBf16Outputs) {
  SADARI_REQUIRE_GPU();
  GemmLt lt;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      check(lt, {ta, tb, 96, 80, 136}, DType::bf16, DType::f32);
      check(lt, {ta, tb, 96, 80, 136, 8, 1.f, 1.f}, DType::bf16, DType::f32);  // accumulate
      check(lt, {ta, tb, 72, 40, 64, 0, 0.5f, 2.f}, DType::bf16, DType::bf16);
    }
  check(lt, {false, true, 512, 768, 1024}, DType::bf16, DType::bf16);
}

TEST(CudaGemmLt, MisalignedOperandsAndOddShapes) {
  SADARI_REQUIRE_GPU();
  GemmLt lt;
  // A view that starts one element into a buffer: 4-byte (f32) / 2-byte (bf16)
  // alignment, which must select a kernel that copes rather than fault.
  check(lt, {false, false, 33, 17, 65}, DType::f32, DType::f32, /*offset_a=*/1);
  check(lt, {true, false, 33, 17, 65}, DType::bf16, DType::f32, /*offset_a=*/1);
  // Vectors and a 1 x 1 x 1 product.
  check(lt, {false, false, 1, 300, 70}, DType::f32, DType::f32);
  check(lt, {false, true, 300, 1, 70}, DType::f32, DType::f32);
  check(lt, {false, false, 1, 1, 1}, DType::f32, DType::f32);
}

TEST(CudaGemmLt, KZeroScalesCAndEmptyIsANoOp) {
  SADARI_REQUIRE_GPU();
  GemmLt lt;
  check(lt, {false, false, 5, 7, 0, 2, 1.f, 0.5f}, DType::f32, DType::f32);
  check(lt, {false, false, 5, 7, 0, 0, 1.f, 0.f}, DType::f32, DType::f32);
  check(lt, {false, false, 5, 7, 0, 0, 1.f, 3.f}, DType::bf16, DType::bf16);
  EXPECT_NO_THROW(lt.gemm(false, false, 0, 5, 5, 1.f, nullptr, 5, nullptr, 5, 0.f, nullptr, 5,
                          DType::f32, DType::f32, nullptr));
}

TEST(CudaGemmLt, PlansAreCachedPerShape) {
  SADARI_REQUIRE_GPU();
  GemmLt lt;
  const int64_t M = 64, N = 32, K = 48;
  Tensor A = upload(random_floats(M * K, 7)), B = upload(random_floats(K * N, 8));
  Tensor C = upload(std::vector<float>(M * N));
  lt.matmul(false, false, M, N, K, ptr<float>(A), ptr<float>(B), ptr<float>(C), nullptr);
  EXPECT_EQ(lt.cached_plans(), 1u);
  lt.matmul(false, false, M, N, K, ptr<float>(A), ptr<float>(B), ptr<float>(C), nullptr);
  EXPECT_EQ(lt.cached_plans(), 1u);
  Tensor Bt = upload(random_floats(N * K, 9));  // [N, K]: the transposed-B shape
  lt.matmul(false, true, M, N, K, ptr<float>(A), ptr<float>(Bt), ptr<float>(C), nullptr);
  EXPECT_EQ(lt.cached_plans(), 2u);
  SADARI_CUDA_CHECK(cudaDeviceSynchronize());
}

TEST(CudaGemmLt, RejectsBadArguments) {
  SADARI_REQUIRE_GPU();
  GemmLt lt;
  float* p = nullptr;
  // lda shorter than a row of A ([M, K] = [4, 8]).
  EXPECT_THROW(lt.gemm(false, false, 4, 4, 8, 1.f, p, 7, p, 4, 0.f, p, 4, DType::f32, DType::f32,
                       nullptr),
               Error);
  // f32 inputs with a bf16 output, and fp8, are not this wrapper's business.
  EXPECT_THROW(lt.gemm(false, false, 4, 4, 4, 1.f, p, 4, p, 4, 0.f, p, 4, DType::f32,
                       DType::bf16, nullptr),
               Error);
  EXPECT_THROW(lt.gemm(false, false, 4, 4, 4, 1.f, p, 4, p, 4, 0.f, p, 4, DType::f8_e4m3,
                       DType::f32, nullptr),
               Error);
}

}  // namespace
}  // namespace sadari::cuda
