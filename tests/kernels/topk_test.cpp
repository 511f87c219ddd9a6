// Top-k: hand-built rows with ties (lower column wins), masks, NaN, and the
// argument checks.
#include "kernels/cpu/topk.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "tests/kernels/grad_check.h"

namespace sadari::cpu {
namespace {

TEST(TopK, DescendingWithTiesToLowerIndex) {
  const std::vector<float> x = {
      0.1f, 0.9f, 0.5f, 0.9f, 0.3f,  // tie at the top: column 1 before column 3
      2.0f, 2.0f, 2.0f, 2.0f, 2.0f,  // all equal: columns in order
      -1.f, -3.f, -2.f, -5.f, -4.f,  // all negative
  };
  std::vector<int32_t> idx(3 * 3);
  std::vector<float> val(3 * 3);
  topk_rows<float>(x.data(), 3, 5, 3, idx.data(), val.data());
  EXPECT_EQ(idx, (std::vector<int32_t>{1, 3, 2, 0, 1, 2, 0, 2, 1}));
  EXPECT_EQ(val, (std::vector<float>{0.9f, 0.9f, 0.5f, 2, 2, 2, -1, -2, -3}));
}

TEST(TopK, KEqualsColsIsAFullSort) {
  const std::vector<double> x = {3, 1, 4, 1, 5, 9, 2, 6};
  std::vector<int32_t> idx(8);
  std::vector<double> val(8);
  topk_rows<double>(x.data(), 1, 8, 8, idx.data(), val.data());
  EXPECT_EQ(idx, (std::vector<int32_t>{5, 7, 4, 2, 0, 6, 1, 3}));
  EXPECT_EQ(val, (std::vector<double>{9, 6, 5, 4, 3, 2, 1, 1}));
}

TEST(TopK, MaskRestrictsCandidates) {
  const std::vector<float> x = {
      5, 4, 3, 2, 1,  //
      1, 1, 1, 1, 1,  //
  };
  const std::vector<uint8_t> mask = {
      0, 1, 0, 1, 1,  // the two best are excluded
      1, 0, 0, 1, 0,  // ties among the allowed ones
  };
  std::vector<int32_t> idx(4);
  std::vector<float> val(4);
  topk_rows<float>(x.data(), 2, 5, 2, idx.data(), val.data(), mask.data());
  EXPECT_EQ(idx, (std::vector<int32_t>{1, 3, 0, 3}));
  EXPECT_EQ(val, (std::vector<float>{4, 2, 1, 1}));
}

TEST(TopK, NaNRanksLast) {
  const std::vector<double> x = {std::nan(""), -INFINITY, 1.0, std::nan("")};
  std::vector<int32_t> idx(4);
  std::vector<double> val(4);
  topk_rows<double>(x.data(), 1, 4, 4, idx.data(), val.data());
  EXPECT_EQ(idx, (std::vector<int32_t>{2, 1, 0, 3}));
}

TEST(TopK, MatchesFullSortOnRandomRows) {
  const int64_t rows = 300, cols = 64, k = 8;  // enough rows for the parallel path
  const auto x = test::random_vector(rows * cols, 60);
  std::vector<int32_t> idx(rows * k);
  std::vector<double> val(rows * k);
  topk_rows<double>(x.data(), rows, cols, k, idx.data(), val.data());
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<int32_t> order(cols);
    for (int32_t j = 0; j < cols; ++j) order[j] = j;
    std::stable_sort(order.begin(), order.end(),
                     [&](int32_t a, int32_t b) { return x[r * cols + a] > x[r * cols + b]; });
    for (int64_t s = 0; s < k; ++s) {
      ASSERT_EQ(idx[r * k + s], order[s]) << "row " << r;
      ASSERT_EQ(val[r * k + s], x[r * cols + order[s]]);
    }
  }
}

TEST(TopK, RejectsInvalidK) {
  const std::vector<float> x(10);
  std::vector<int32_t> idx(20);
  std::vector<float> val(20);
  EXPECT_THROW(topk_rows<float>(x.data(), 2, 5, 0, idx.data(), val.data()), Error);
  EXPECT_THROW(topk_rows<float>(x.data(), 2, 5, -1, idx.data(), val.data()), Error);
  EXPECT_THROW(topk_rows<float>(x.data(), 2, 5, 6, idx.data(), val.data()), Error);
}

TEST(TopK, RejectsMaskWithFewerThanKAllowed) {
  const std::vector<float> x(10);
  const std::vector<uint8_t> mask = {1, 1, 1, 0, 0, 0, 1, 0, 0, 0};
  std::vector<int32_t> idx(4);
  std::vector<float> val(4);
  try {
    topk_rows<float>(x.data(), 2, 5, 2, idx.data(), val.data(), mask.data());
    FAIL() << "expected sadari::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("row 1"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sadari::cpu
