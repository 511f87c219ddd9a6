// Every kernel of kernels/cuda/ops.h against its CPU reference (kernels/cpu) on
// seeded random data. Shapes are chosen to leave partial warps and blocks (dims not
// multiples of 32 or 256) and to include the edge cases the CPU tests cover.
//
// Tolerances: inputs are O(1). The CPU reference accumulates row sums in double
// while the GPU uses f32 tree sums, and expf / std::exp may differ by an ulp; so
// elementwise results are compared at a few f32 ulps (rtol 2e-6) and reduced results
// at rtol 1e-5 or an absolute bound that grows with the number of summed terms
// (terms x 2^-24 per term is the f32 rounding bound, far above what a tree sum
// really loses).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/bf16.h"
#include "kernels/cpu/activation.h"
#include "kernels/cpu/cross_entropy.h"
#include "kernels/cpu/embedding.h"
#include "kernels/cpu/rmsnorm.h"
#include "kernels/cpu/swiglu.h"
#include "kernels/cuda/ops.h"
#include "tests/cuda/cuda_test_util.h"

namespace sadari::cuda {
namespace {

using test::all_close;
using test::device_zeros;
using test::download;
using test::ptr;
using test::random_floats;
using test::upload;

constexpr double kUlp = 1.0 / (1 << 24);  // f32 unit roundoff (2^-24)

// ---- RMSNorm -------------------------------------------------------------------

class RmsNormShapes : public ::testing::TestWithParam<std::pair<int64_t, int64_t>> {};

TEST_P(RmsNormShapes, ForwardAndBackwardMatchCpu) {
  SADARI_REQUIRE_GPU();
  const auto [rows, dim] = GetParam();
  const float eps = 1e-6f;
  const auto x = random_floats(rows * dim, 10, -2.f, 2.f);
  const auto w = random_floats(dim, 11, 0.5f, 1.5f);
  const auto dy = random_floats(rows * dim, 12);
  const auto dw0 = random_floats(dim, 13);  // backward accumulates into dw

  std::vector<float> y(rows * dim), rstd(rows), dx(rows * dim), dw = dw0;
  cpu::rmsnorm_forward<float>(x.data(), w.data(), y.data(), rstd.data(), rows, dim, eps);
  cpu::rmsnorm_backward<float>(dy.data(), x.data(), w.data(), rstd.data(), dx.data(), dw.data(),
                               rows, dim);

  Tensor d_x = upload(x), d_w = upload(w), d_dy = upload(dy), d_dw = upload(dw0);
  Tensor d_y = device_zeros<float>(rows * dim), d_rstd = device_zeros<float>(rows),
         d_dx = device_zeros<float>(rows * dim);
  rmsnorm_forward(ptr<float>(d_x), ptr<float>(d_w), ptr<float>(d_y), ptr<float>(d_rstd), rows,
                  dim, eps, nullptr);
  rmsnorm_backward(ptr<float>(d_dy), ptr<float>(d_x), ptr<float>(d_w), ptr<float>(d_rstd),
                   ptr<float>(d_dx), ptr<float>(d_dw), rows, dim, nullptr);

  EXPECT_TRUE(all_close(download<float>(d_rstd, rows), rstd, 0, 1e-5)) << "rstd";
  EXPECT_TRUE(all_close(download<float>(d_y, rows * dim), y, 1e-6, 1e-5)) << "y";
  // dx = r w dy - c x cancels; the bound is relative to the terms' size, O(1).
  EXPECT_TRUE(all_close(download<float>(d_dx, rows * dim), dx, 1e-5, 1e-5)) << "dx";
  // dw sums `rows` products of size <= 2 in f32 (the CPU in double): allow 2^-24
  // per term and unit of size, times 16 - loose for a rounding difference, tight
  // against a wrong formula.
  EXPECT_TRUE(all_close(download<float>(d_dw, dim), dw, 32 * rows * kUlp, 1e-5)) << "dw";

  // dw == nullptr: dx only.
  Tensor d_dx2 = device_zeros<float>(rows * dim);
  rmsnorm_backward(ptr<float>(d_dy), ptr<float>(d_x), ptr<float>(d_w), ptr<float>(d_rstd),
                   ptr<float>(d_dx2), nullptr, rows, dim, nullptr);
  EXPECT_EQ(download<float>(d_dx2, rows * dim), download<float>(d_dx, rows * dim));
}

INSTANTIATE_TEST_SUITE_P(Cuda, RmsNormShapes,
                         ::testing::Values(std::pair<int64_t, int64_t>{1, 1},
                                           std::pair<int64_t, int64_t>{67, 300},
                                           std::pair<int64_t, int64_t>{33, 4099},
                                           std::pair<int64_t, int64_t>{512, 64}));

TEST(CudaRmsNorm, ZeroRowsAndBadShapes) {
  SADARI_REQUIRE_GPU();
  EXPECT_NO_THROW(rmsnorm_forward(nullptr, nullptr, nullptr, nullptr, 0, 8, 1e-6f, nullptr));
  EXPECT_THROW(rmsnorm_forward(nullptr, nullptr, nullptr, nullptr, 4, 0, 1e-6f, nullptr), Error);
}

// ---- SwiGLU --------------------------------------------------------------------

TEST(CudaSwiglu, ForwardAndBackwardMatchCpu) {
  SADARI_REQUIRE_GPU();
  const int64_t rows = 37, F = 259;
  auto gate_up = random_floats(rows * 2 * F, 20, -4.f, 4.f);
  gate_up[0] = 30.f;  // exp(30) in a naive sigmoid; stable form must agree with the CPU
  gate_up[1] = -30.f;
  gate_up[2] = -100.f;
  const auto dh = random_floats(rows * F, 21);
  std::vector<float> h(rows * F), dgu(rows * 2 * F);
  cpu::swiglu_forward<float>(gate_up.data(), h.data(), rows, F);
  cpu::swiglu_backward<float>(dh.data(), gate_up.data(), dgu.data(), rows, F);

  Tensor d_gu = upload(gate_up), d_dh = upload(dh);
  Tensor d_h = device_zeros<float>(rows * F), d_dgu = device_zeros<float>(rows * 2 * F);
  swiglu_forward(ptr<float>(d_gu), ptr<float>(d_h), rows, F, nullptr);
  swiglu_backward(ptr<float>(d_dh), ptr<float>(d_gu), ptr<float>(d_dgu), rows, F, nullptr);
  // Elementwise formulas identical to the CPU's: a few ulps from expf.
  EXPECT_TRUE(all_close(download<float>(d_h, rows * F), h, 1e-7, 2e-6)) << "h";
  EXPECT_TRUE(all_close(download<float>(d_dgu, rows * 2 * F), dgu, 1e-7, 2e-6)) << "dgate_up";
}

// ---- Embedding -----------------------------------------------------------------

TEST(CudaEmbedding, ForwardMatchesCpuExactly) {
  SADARI_REQUIRE_GPU();
  const int64_t vocab = 101, dim = 300, n = 77;
  const auto table = random_floats(vocab * dim, 30);
  std::vector<int32_t> ids(n);
  for (int64_t i = 0; i < n; ++i) ids[i] = int32_t((i * 37 + 5) % vocab);
  ids[3] = 0;
  ids[4] = int32_t(vocab - 1);
  std::vector<float> out(n * dim);
  cpu::embedding_forward<float>(ids.data(), table.data(), out.data(), n, vocab, dim);

  Tensor d_ids = upload(ids), d_table = upload(table), d_out = device_zeros<float>(n * dim);
  embedding_forward(ptr<int32_t>(d_ids), ptr<float>(d_table), ptr<float>(d_out), n, vocab, dim,
                    nullptr);
  EXPECT_EQ(download<float>(d_out, n * dim), out);  // a copy: bit-exact
}

TEST(CudaEmbedding, OutOfRangeIdPoisonsItsRowWithNaN) {
  SADARI_REQUIRE_GPU();
  const int64_t vocab = 10, dim = 40;
  const auto table = random_floats(vocab * dim, 31);
  const std::vector<int32_t> ids = {1, 10, -1, 2};  // two bad ids
  Tensor d_ids = upload(ids), d_table = upload(table), d_out = device_zeros<float>(4 * dim);
  embedding_forward(ptr<int32_t>(d_ids), ptr<float>(d_table), ptr<float>(d_out), 4, vocab, dim,
                    nullptr);
  const auto out = download<float>(d_out, 4 * dim);
  for (int64_t j = 0; j < dim; ++j) {
    EXPECT_EQ(out[j], table[1 * dim + j]);
    EXPECT_TRUE(std::isnan(out[1 * dim + j]));
    EXPECT_TRUE(std::isnan(out[2 * dim + j]));
    EXPECT_EQ(out[3 * dim + j], table[2 * dim + j]);
  }
}

// ---- Softmax -------------------------------------------------------------------

TEST(CudaSoftmax, ForwardMatchesCpu) {
  SADARI_REQUIRE_GPU();
  for (const auto& [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{
           {1, 1}, {5, 7}, {64, 1000}, {3, 50000}}) {
    auto x = random_floats(rows * cols, 40 + cols, -5.f, 5.f);
    for (int64_t j = 0; j < cols; ++j) x[j] += 1000.f;  // overflows without the max
    std::vector<float> y(rows * cols);
    cpu::softmax_forward<float>(x.data(), y.data(), rows, cols);
    Tensor d_x = upload(x), d_y = device_zeros<float>(rows * cols);
    softmax_forward(ptr<float>(d_x), ptr<float>(d_y), rows, cols, nullptr);
    // y <= 1; the sums differ in order and precision (double on the CPU).
    EXPECT_TRUE(all_close(download<float>(d_y, rows * cols), y, 1e-7, 1e-5))
        << rows << " x " << cols;
    // In place gives the same bits.
    softmax_forward(ptr<float>(d_x), ptr<float>(d_x), rows, cols, nullptr);
    EXPECT_EQ(download<float>(d_x, rows * cols), download<float>(d_y, rows * cols));
  }
}

// ---- Cross-entropy -------------------------------------------------------------

TEST(CudaCrossEntropy, ForwardMatchesCpu) {
  SADARI_REQUIRE_GPU();
  const int64_t n = 300, vocab = 5003;
  const auto logits = random_floats(n * vocab, 50, -8.f, 8.f);
  std::vector<int32_t> targets(n);
  for (int64_t i = 0; i < n; ++i) targets[i] = int32_t((i * 7919) % vocab);
  for (int64_t i = 0; i < n; i += 10) targets[i] = cpu::kIgnoreTarget;
  std::vector<float> lse(n);
  int64_t count = 0;
  const double loss = cpu::cross_entropy_forward<float>(logits.data(), targets.data(), lse.data(),
                                                        n, vocab, &count);

  Tensor d_logits = upload(logits), d_targets = upload(targets), d_lse = device_zeros<float>(n);
  Tensor d_loss = device_zeros<double>(1), d_count = device_zeros<int64_t>(1);
  cross_entropy_forward(ptr<float>(d_logits), ptr<int32_t>(d_targets), ptr<float>(d_lse), n,
                        vocab, ptr<double>(d_loss), ptr<int64_t>(d_count), nullptr);
  // lse ~ 10: the GPU's f32 sum of `vocab` exps against the CPU's double sum.
  EXPECT_TRUE(all_close(download<float>(d_lse, n), lse, 1e-5, 1e-6)) << "lse";
  EXPECT_EQ(download<int64_t>(d_count, 1)[0], count);
  // Each row's loss comes from the f32 lse (rounded at ~10 * 2^-24) plus the lse
  // difference above: 2e-5 per counted row bounds both.
  EXPECT_NEAR(download<double>(d_loss, 1)[0], loss, 2e-5 * double(count));

  // Deterministic: the same bits a second time.
  Tensor d_loss2 = device_zeros<double>(1);
  cross_entropy_forward(ptr<float>(d_logits), ptr<int32_t>(d_targets), ptr<float>(d_lse), n,
                        vocab, ptr<double>(d_loss2), ptr<int64_t>(d_count), nullptr);
  EXPECT_EQ(download<double>(d_loss2, 1)[0], download<double>(d_loss, 1)[0]);
}

TEST(CudaCrossEntropy, BadTargetMakesLossNaNAndEmptyBatchIsZero) {
  SADARI_REQUIRE_GPU();
  const int64_t n = 4, vocab = 16;
  const auto logits = random_floats(n * vocab, 51);
  Tensor d_logits = upload(logits), d_lse = device_zeros<float>(n);
  Tensor d_loss = device_zeros<double>(1), d_count = device_zeros<int64_t>(1);
  Tensor d_bad = upload(std::vector<int32_t>{1, 16, 2, -1});
  cross_entropy_forward(ptr<float>(d_logits), ptr<int32_t>(d_bad), ptr<float>(d_lse), n, vocab,
                        ptr<double>(d_loss), ptr<int64_t>(d_count), nullptr);
  EXPECT_TRUE(std::isnan(download<double>(d_loss, 1)[0]));

  cross_entropy_forward(ptr<float>(d_logits), ptr<int32_t>(d_bad), ptr<float>(d_lse), 0, vocab,
                        ptr<double>(d_loss), ptr<int64_t>(d_count), nullptr);
  EXPECT_EQ(download<double>(d_loss, 1)[0], 0.0);
  EXPECT_EQ(download<int64_t>(d_count, 1)[0], 0);
}

// ---- bf16 ----------------------------------------------------------------------

uint32_t bits_of(float x) {
  uint32_t b;
  std::memcpy(&b, &x, 4);
  return b;
}
float float_of(uint32_t b) {
  float x;
  std::memcpy(&x, &b, 4);
  return x;
}

TEST(CudaBf16, F32ToBf16MatchesHostBitForBit) {
  SADARI_REQUIRE_GPU();
  std::vector<float> x;
  for (uint32_t b : {0x00000000u, 0x80000000u, 0x3f800000u, 0x00000001u, 0x807fffffu,
                     0x3f808000u,   // tie, even below: rounds down
                     0x3f818000u,   // tie, odd below: rounds up
                     0x3f808001u,   // just above a tie
                     0x7f7fffffu,   // max float: rounds to inf
                     0x7f800000u, 0xff800000u,  // +-inf
                     0x7fc00000u, 0xffc00001u,  // quiet NaNs
                     0x7f800001u, 0xff800100u}) // signalling NaNs: must come back quiet
    x.push_back(float_of(b));
  std::mt19937 rng(60);
  for (int i = 0; i < 100000; ++i) x.push_back(float_of(rng()));  // every kind of pattern
  std::vector<uint16_t> want(x.size());
  for (size_t i = 0; i < x.size(); ++i) want[i] = sadari::f32_to_bf16(x[i]);

  Tensor d_x = upload(x), d_out = device_zeros<uint16_t>(int64_t(x.size()));
  f32_to_bf16(ptr<float>(d_x), ptr<uint16_t>(d_out), int64_t(x.size()), nullptr);
  const auto got = download<uint16_t>(d_out, int64_t(x.size()));
  for (size_t i = 0; i < x.size(); ++i)
    ASSERT_EQ(got[i], want[i]) << "input bits 0x" << std::hex << bits_of(x[i]);
}

TEST(CudaBf16, Bf16ToF32IsExactForAllPatterns) {
  SADARI_REQUIRE_GPU();
  std::vector<uint16_t> all(65536);
  for (uint32_t i = 0; i < 65536; ++i) all[i] = uint16_t(i);
  Tensor d_in = upload(all), d_out = device_zeros<float>(65536);
  bf16_to_f32(ptr<uint16_t>(d_in), ptr<float>(d_out), 65536, nullptr);
  const auto got = download<float>(d_out, 65536);
  for (uint32_t i = 0; i < 65536; ++i)
    ASSERT_EQ(bits_of(got[i]), bits_of(sadari::bf16_to_f32(uint16_t(i)))) << "pattern " << i;
}

}  // namespace
}  // namespace sadari::cuda
