#include "data/sampler.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "data_test_util.h"

namespace sadari {
namespace {

// Token i has value i, so a window's contents name its start.
std::vector<int32_t> iota_stream(int64_t n) {
  std::vector<int32_t> tokens(static_cast<size_t>(n));
  std::iota(tokens.begin(), tokens.end(), 0);
  return tokens;
}

TEST(WindowSampler, WindowCountAndShift) {
  std::vector<int32_t> tokens = iota_stream(1001);
  WindowSampler sampler(TokenView(std::span<const int32_t>(tokens)), 10, SampleOrder::kShuffled, 1);
  EXPECT_EQ(sampler.windows(), 100);  // (1001 - 1) / 10: the last window ends on token 1000
  std::vector<int32_t> in(10 * 7), out(10 * 7);
  sampler.fill(0, 7, in.data(), out.data());
  for (int64_t i = 0; i < 7; ++i) {
    const int32_t start = static_cast<int32_t>(sampler.window_of(i) * 10);
    for (int64_t t = 0; t < 10; ++t) {
      EXPECT_EQ(in[i * 10 + t], start + t);
      EXPECT_EQ(out[i * 10 + t], start + t + 1);
    }
  }
  // A stream one token short of the last window loses it.
  std::vector<int32_t> shorter = iota_stream(1000);
  EXPECT_EQ(WindowSampler(TokenView(std::span<const int32_t>(shorter)), 10, SampleOrder::kShuffled).windows(), 99);
}

TEST(WindowSampler, EachWindowOncePerEpoch) {
  for (int64_t W : {1, 2, 3, 5, 16, 17, 100, 1000, 4097}) {
    std::vector<int32_t> tokens = iota_stream(W * 4 + 1);
    WindowSampler sampler(TokenView(std::span<const int32_t>(tokens)), 4, SampleOrder::kShuffled, 99);
    ASSERT_EQ(sampler.windows(), W);
    for (int64_t epoch = 0; epoch < 3; ++epoch) {
      std::vector<int> seen(static_cast<size_t>(W), 0);
      for (int64_t i = 0; i < W; ++i) {
        int64_t w = sampler.window_of(epoch * W + i);
        ASSERT_GE(w, 0);
        ASSERT_LT(w, W);
        ++seen[w];
      }
      for (int64_t w = 0; w < W; ++w) EXPECT_EQ(seen[w], 1) << "W " << W << " epoch " << epoch << " window " << w;
    }
  }
}

TEST(WindowSampler, OrderDependsOnSeedAndEpochOnly) {
  std::vector<int32_t> tokens = iota_stream(100 * 8 + 1);
  TokenView view{std::span<const int32_t>(tokens)};
  WindowSampler a(view, 8, SampleOrder::kShuffled, 5), b(view, 8, SampleOrder::kShuffled, 5),
      c(view, 8, SampleOrder::kShuffled, 6);
  std::vector<int64_t> epoch0, epoch1, again, other_seed;
  for (int64_t i = 0; i < 100; ++i) {
    epoch0.push_back(a.window_of(i));
    epoch1.push_back(a.window_of(100 + i));
    again.push_back(b.window_of(i));
    other_seed.push_back(c.window_of(i));
  }
  std::vector<int64_t> identity(100);
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_EQ(epoch0, again);
  EXPECT_NE(epoch0, epoch1);
  EXPECT_NE(epoch0, other_seed);
  EXPECT_NE(epoch0, identity);
}

TEST(WindowSampler, IndependentOfHowTheRangeIsSplit) {
  std::vector<int32_t> tokens = iota_stream(50 * 6 + 3);
  WindowSampler sampler(TokenView(std::span<const int32_t>(tokens)), 6, SampleOrder::kShuffled, 1234);
  const int64_t T = 6;
  for (int64_t first : {0, 4, 47, 98}) {  // 47 and 98 straddle epoch boundaries
    std::vector<int32_t> in_all(8 * T), out_all(8 * T), in_parts(8 * T), out_parts(8 * T);
    sampler.fill(first, 8, in_all.data(), out_all.data());
    sampler.fill(first, 4, in_parts.data(), out_parts.data());
    sampler.fill(first + 4, 4, in_parts.data() + 4 * T, out_parts.data() + 4 * T);
    EXPECT_EQ(in_all, in_parts);
    EXPECT_EQ(out_all, out_parts);
    // One sample at a time, as a rank owning every other sample would read them.
    for (int64_t i = 0; i < 8; ++i) {
      std::vector<int32_t> in(T), out(T);
      sampler.fill(first + i, 1, in.data(), out.data());
      EXPECT_TRUE(std::equal(in.begin(), in.end(), in_all.begin() + i * T));
      EXPECT_TRUE(std::equal(out.begin(), out.end(), out_all.begin() + i * T));
    }
  }
}

TEST(WindowSampler, SequentialOrderWraps) {
  std::vector<int32_t> tokens = iota_stream(10 * 4 + 1);
  WindowSampler sampler(TokenView(std::span<const int32_t>(tokens)), 4, SampleOrder::kSequential, 77);
  for (int64_t g = 0; g < 35; ++g) EXPECT_EQ(sampler.window_of(g), g % 10);
  std::vector<int32_t> in(4 * 2), out(4 * 2);
  sampler.fill(9, 2, in.data(), out.data());
  EXPECT_EQ(in, (std::vector<int32_t>{36, 37, 38, 39, 0, 1, 2, 3}));
  EXPECT_EQ(out, (std::vector<int32_t>{37, 38, 39, 40, 1, 2, 3, 4}));
}

TEST(WindowSampler, U16StreamReadsLikeI32) {
  std::vector<int32_t> wide = iota_stream(301);
  std::vector<uint16_t> narrow(wide.begin(), wide.end());
  WindowSampler a(TokenView(std::span<const int32_t>(wide)), 12, SampleOrder::kShuffled, 3);
  WindowSampler b(TokenView(std::span<const uint16_t>(narrow)), 12, SampleOrder::kShuffled, 3);
  std::vector<int32_t> ia(12 * 30), ta(12 * 30), ib(12 * 30), tb(12 * 30);
  a.fill(0, 30, ia.data(), ta.data());
  b.fill(0, 30, ib.data(), tb.data());
  EXPECT_EQ(ia, ib);
  EXPECT_EQ(ta, tb);
}

TEST(WindowSampler, RejectsStreamShorterThanOneWindow) {
  std::vector<int32_t> tokens = iota_stream(10);
  TokenView view{std::span<const int32_t>(tokens)};
  testing::error_message([&] { WindowSampler(view, 10, SampleOrder::kShuffled); });
  EXPECT_EQ(WindowSampler(view, 9, SampleOrder::kShuffled).windows(), 1);
}

}  // namespace
}  // namespace sadari
