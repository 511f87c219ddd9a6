// Cross-entropy: loss, lse and count against a naive reference with ignored
// targets; backward (double) against finite differences of scale * loss, with
// ignored rows getting exactly zero gradient.
#include "kernels/cpu/cross_entropy.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "tests/kernels/grad_check.h"

namespace sadari::cpu {
namespace {

constexpr int64_t kN = 6, kVocab = 11;
const std::vector<int32_t> kTargets = {3, kIgnoreTarget, 0, 10, kIgnoreTarget, 7};

TEST(CrossEntropy, ForwardMatchesNaive) {
  auto logits = test::random_vector(kN * kVocab, 80, -4, 4);
  for (int64_t j = 0; j < kVocab; ++j) logits[j] += 500.0;  // must not overflow
  double ref = 0;
  std::vector<double> ref_lse(kN);
  for (int64_t i = 0; i < kN; ++i) {
    double m = logits[i * kVocab], z = 0;
    for (int64_t j = 0; j < kVocab; ++j) m = std::max(m, logits[i * kVocab + j]);
    for (int64_t j = 0; j < kVocab; ++j) z += std::exp(logits[i * kVocab + j] - m);
    ref_lse[i] = m + std::log(z);
    if (kTargets[i] != kIgnoreTarget) ref += ref_lse[i] - logits[i * kVocab + kTargets[i]];
  }
  std::vector<double> lse(kN);
  int64_t count = -1;
  const double loss = cross_entropy_forward<double>(logits.data(), kTargets.data(), lse.data(),
                                                    kN, kVocab, &count);
  EXPECT_NEAR(loss, ref, 1e-12);
  EXPECT_EQ(count, 4);
  for (int64_t i = 0; i < kN; ++i) EXPECT_NEAR(lse[i], ref_lse[i], 1e-12);

  auto lf = test::cast_vector<float>(logits);
  std::vector<float> lsef(kN);
  const double lossf = cross_entropy_forward<float>(lf.data(), kTargets.data(), lsef.data(), kN,
                                                    kVocab, nullptr);
  EXPECT_NEAR(lossf, ref, 1e-3);  // row 0 is float(x + 500)
}

TEST(CrossEntropy, BackwardMatchesFiniteDifferences) {
  auto logits = test::random_vector(kN * kVocab, 81, -4, 4);
  const double scale = 0.25;
  auto loss = [&] {
    std::vector<double> lse(kN);
    return scale * cross_entropy_forward<double>(logits.data(), kTargets.data(), lse.data(), kN,
                                                 kVocab, nullptr);
  };
  std::vector<double> lse(kN);
  cross_entropy_forward<double>(logits.data(), kTargets.data(), lse.data(), kN, kVocab, nullptr);
  auto dlogits = test::random_vector(logits.size(), 82);  // must be overwritten
  cross_entropy_backward<double>(logits.data(), kTargets.data(), lse.data(), dlogits.data(), kN,
                                 kVocab, scale);
  EXPECT_LT(test::max_relative_error(dlogits, test::numeric_grad(loss, logits)),
            test::kGradTolerance);
  for (int64_t i = 0; i < kN; ++i) {
    if (kTargets[i] != kIgnoreTarget) continue;
    for (int64_t j = 0; j < kVocab; ++j) EXPECT_EQ(dlogits[i * kVocab + j], 0.0);
  }
}

TEST(CrossEntropy, AllIgnoredGivesZero) {
  const auto logits = test::random_vector(2 * kVocab, 83);
  const std::vector<int32_t> targets = {kIgnoreTarget, kIgnoreTarget};
  std::vector<double> lse(2);
  int64_t count = -1;
  EXPECT_EQ(cross_entropy_forward<double>(logits.data(), targets.data(), lse.data(), 2, kVocab,
                                          &count),
            0.0);
  EXPECT_EQ(count, 0);
}

TEST(CrossEntropy, OutOfRangeTargetThrows) {
  const auto logits = test::random_vector(2 * kVocab, 84);
  std::vector<double> lse(2);
  for (int32_t bad : {int32_t(kVocab), int32_t(-2)}) {
    const std::vector<int32_t> targets = {0, bad};
    EXPECT_THROW(cross_entropy_forward<double>(logits.data(), targets.data(), lse.data(), 2,
                                               kVocab, nullptr),
                 Error);
  }
}

}  // namespace
}  // namespace sadari::cpu
