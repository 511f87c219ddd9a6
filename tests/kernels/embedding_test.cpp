// Embedding: forward is a row gather, backward (double) against finite differences
// with repeated ids and accumulation into an existing gradient; out-of-range ids
// throw an Error that names the id and its position.
#include "kernels/cpu/embedding.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "tests/kernels/grad_check.h"

namespace sadari::cpu {
namespace {

constexpr int64_t kVocab = 7, kDim = 5;
const std::vector<int32_t> kIds = {3, 0, 6, 3, 3, 1, 0};  // 3 and 0 repeat; 2, 4, 5 unused

TEST(Embedding, ForwardGathersRows) {
  const auto table = test::random_vector(kVocab * kDim, 70);
  const int64_t n = int64_t(kIds.size());
  std::vector<double> out(n * kDim);
  embedding_forward<double>(kIds.data(), table.data(), out.data(), n, kVocab, kDim);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < kDim; ++j) EXPECT_EQ(out[i * kDim + j], table[kIds[i] * kDim + j]);
}

TEST(Embedding, BackwardMatchesFiniteDifferences) {
  auto table = test::random_vector(kVocab * kDim, 71);
  const int64_t n = int64_t(kIds.size());
  const auto weight = test::random_vector(n * kDim, 72);
  auto loss = [&] {
    std::vector<double> out(n * kDim);
    embedding_forward<double>(kIds.data(), table.data(), out.data(), n, kVocab, kDim);
    return test::weighted_sum(out, weight);
  };
  const auto dtable0 = test::random_vector(table.size(), 73);  // backward accumulates
  auto dtable = dtable0;
  embedding_backward<double>(kIds.data(), weight.data(), dtable.data(), n, kVocab, kDim);
  for (size_t i = 0; i < dtable.size(); ++i) dtable[i] -= dtable0[i];
  EXPECT_LT(test::max_relative_error(dtable, test::numeric_grad(loss, table)),
            test::kGradTolerance);
}

TEST(Embedding, OutOfRangeIdThrowsNamingIdAndPosition) {
  const std::vector<double> table(kVocab * kDim);
  std::vector<double> out(4 * kDim);
  for (int32_t bad : {int32_t(kVocab), int32_t(-1), int32_t(1 << 30)}) {
    const std::vector<int32_t> ids = {0, 1, bad, 2};
    try {
      embedding_forward<double>(ids.data(), table.data(), out.data(), 4, kVocab, kDim);
      FAIL() << "expected sadari::Error for id " << bad;
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("id " + std::to_string(bad)), std::string::npos) << msg;
      EXPECT_NE(msg.find("position 2"), std::string::npos) << msg;
    }
    std::vector<double> dtable(kVocab * kDim);
    EXPECT_THROW(
        embedding_backward<double>(ids.data(), out.data(), dtable.data(), 4, kVocab, kDim), Error);
  }
}

}  // namespace
}  // namespace sadari::cpu
