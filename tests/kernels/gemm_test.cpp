// gemm/matmul against a naive triple loop: all four transpose combinations, leading
// dimensions wider than the rows (padding must stay untouched), alpha and beta.
#include "kernels/cpu/gemm.h"

#include <gtest/gtest.h>
#include <omp.h>

#include "core/error.h"
#include "tests/kernels/grad_check.h"

namespace sadari::cpu {
namespace {

// C = alpha op(A) op(B) + beta C, with the same row-major / ld conventions as gemm.
void naive_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha,
                const std::vector<double>& A, int64_t lda, const std::vector<double>& B,
                int64_t ldb, double beta, std::vector<double>& C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t p = 0; p < K; ++p) {
        const double a = ta ? A[p * lda + i] : A[i * lda + p];
        const double b = tb ? B[j * ldb + p] : B[p * ldb + j];
        s += a * b;
      }
      C[i * ldc + j] = alpha * s + beta * C[i * ldc + j];
    }
}

// Small shapes run as one OpenBLAS call; large ones are cut into tiles of C that
// run in parallel (see gemm.cpp), so both paths are checked.
template <typename T>
void check_gemm(bool ta, bool tb, double tol, int64_t M = 7, int64_t N = 5, int64_t K = 9) {
  // Stored A is [M,K] or [K,M]; pad every leading dimension by a few columns.
  const int64_t a_rows = ta ? K : M, a_cols = ta ? M : K;
  const int64_t b_rows = tb ? N : K, b_cols = tb ? K : N;
  const int64_t lda = a_cols + 3, ldb = b_cols + 2, ldc = N + 4;
  const auto A = test::random_vector(a_rows * lda, 1);
  const auto B = test::random_vector(b_rows * ldb, 2);
  auto C = test::random_vector(M * ldc, 3);
  const double alpha = 0.7, beta = -0.3;
  auto At = test::cast_vector<T>(A), Bt = test::cast_vector<T>(B), Ct = test::cast_vector<T>(C);
  gemm<T>(ta, tb, M, N, K, T(alpha), At.data(), lda, Bt.data(), ldb, T(beta), Ct.data(), ldc);
  const auto C0 = test::cast_vector<T>(C);
  naive_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < ldc; ++j) {
      if (j < N)
        EXPECT_NEAR(Ct[i * ldc + j], C[i * ldc + j], tol) << "ta=" << ta << " tb=" << tb;
      else
        EXPECT_EQ(Ct[i * ldc + j], C0[i * ldc + j]) << "padding of C was written";
    }
}

TEST(Gemm, AllTransposesStridedDouble) {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) check_gemm<double>(ta, tb, 1e-12);
}

TEST(Gemm, AllTransposesStridedFloat) {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) check_gemm<float>(ta, tb, 1e-5);
}

TEST(Gemm, TiledAllTransposesStrided) {
  // M * N * K above the tiling threshold, edges not multiples of the tile size.
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      check_gemm<double>(ta, tb, 1e-11, 301, 203, 57);
      check_gemm<float>(ta, tb, 1e-4, 301, 203, 57);
    }
}

TEST(Gemm, MatmulPackedWithBeta) {
  const int64_t M = 4, N = 6, K = 3;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      const auto A = test::random_vector(M * K, 4), B = test::random_vector(K * N, 5);
      auto C = test::random_vector(M * N, 6);
      auto Cm = C;
      matmul<double>(ta, tb, M, N, K, A.data(), B.data(), Cm.data(), 1.0);
      naive_gemm(ta, tb, M, N, K, 1.0, A, ta ? M : K, B, tb ? K : N, 1.0, C, N);
      for (int64_t i = 0; i < M * N; ++i) EXPECT_NEAR(Cm[i], C[i], 1e-12);
    }
}

TEST(Gemm, EmptyInnerDimensionScalesC) {
  std::vector<double> C = {1, 2, std::nan(""), 4};
  gemm<double>(false, false, 2, 2, 0, 1.0, nullptr, 0, nullptr, 0, 0.0, C.data(), 2);
  for (double c : C) EXPECT_EQ(c, 0.0);  // beta = 0 overwrites, NaN included
  C = {1, 2, 3, 4};
  gemm<double>(false, false, 2, 2, 0, 1.0, nullptr, 0, nullptr, 0, 2.0, C.data(), 2);
  EXPECT_EQ(C, (std::vector<double>{2, 4, 6, 8}));
}

TEST(Gemm, RejectsTooSmallLeadingDimension) {
  std::vector<double> A(12), B(12), C(12);
  EXPECT_THROW(gemm<double>(false, false, 3, 3, 4, 1.0, A.data(), 3, B.data(), 3, 0.0, C.data(),
                            3),
               Error);
}

// A multi-threaded OpenBLAS GEMM gives different bits for different thread
// counts; gemm must not.
TEST(Gemm, IndependentOfThreadCount) {
  const int64_t M = 300, N = 260, K = 200;
  const auto A = test::cast_vector<float>(test::random_vector(M * K, 7));
  const auto B = test::cast_vector<float>(test::random_vector(K * N, 8));
  const int saved = omp_get_max_threads();
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      std::vector<std::vector<float>> results;
      for (int threads : {1, 2, 3}) {
        omp_set_num_threads(threads);
        std::vector<float> C(M * N);
        matmul<float>(ta, tb, M, N, K, A.data(), B.data(), C.data());
        EXPECT_EQ(omp_get_max_threads(), threads) << "gemm changed the caller's thread count";
        results.push_back(std::move(C));
      }
      for (size_t r = 1; r < results.size(); ++r)
        EXPECT_EQ(results[r], results[0]) << "ta=" << ta << " tb=" << tb << ", " << r + 1
                                          << " threads";
    }
  omp_set_num_threads(saved);
}

}  // namespace
}  // namespace sadari::cpu
