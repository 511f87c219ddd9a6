// The internal vectorised exp of kernels/cpu/vec_math.h: accuracy against
// std::exp in double, special values, and that an element's result does not
// depend on where it sits in the array (full vector or padded tail), which the
// thread-count independence of the softmax-shaped kernels relies on.
#include "kernels/cpu/vec_math.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <vector>

#include "tests/kernels/grad_check.h"

namespace sadari::cpu {
namespace {

TEST(VecMath, ExpWithinTwoUlpOfExactForNormalResults) {
  std::vector<float> x;
  for (float v = -87.0f; v < 88.7f; v += 0.0137f) x.push_back(v);
  std::vector<float> y(x.size());
  vecmath::exp_shifted(x.data(), 0.0f, y.data(), int64_t(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    const double ref = std::exp(double(x[i]));
    const float rf = float(ref);
    const double ulp = std::nextafter(rf, INFINITY) - rf;
    ASSERT_LE(std::abs(y[i] - ref), 2 * ulp) << "x = " << x[i];
  }
}

TEST(VecMath, ExpSpecialValues) {
  const std::vector<float> x = {0.0f, -INFINITY, -200.0f, -104.0f, NAN, 1000.0f, INFINITY, -0.0f};
  std::vector<float> y(x.size());
  vecmath::exp_shifted(x.data(), 0.0f, y.data(), int64_t(x.size()));
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], 0.0f);
  EXPECT_EQ(y[2], 0.0f);
  EXPECT_EQ(y[3], 0.0f);
  EXPECT_TRUE(std::isnan(y[4]));
  EXPECT_TRUE(std::isfinite(y[5]) && y[5] > 3e38f);  // saturates, documented
  EXPECT_TRUE(std::isfinite(y[6]) && y[6] > 3e38f);
  EXPECT_EQ(y[7], 1.0f);
  // Subnormal results are rounded once, like exp.
  const float sub = -95.0f;
  float ys;
  vecmath::exp_shifted(&sub, 0.0f, &ys, 1);
  EXPECT_NEAR(ys, std::exp(double(sub)), 1.5e-45);
}

TEST(VecMath, ResultIndependentOfPositionAndShiftAppliedFirst) {
  const auto xd = test::random_vector(37, 120, -30, 5);
  const std::vector<float> x(xd.begin(), xd.end());
  std::vector<float> whole(x.size());
  vecmath::exp_shifted(x.data(), 1.5f, whole.data(), int64_t(x.size()));
  for (size_t start = 0; start < x.size(); ++start)
    for (size_t len : {size_t(1), size_t(3), size_t(8), size_t(13)}) {
      if (start + len > x.size()) continue;
      std::vector<float> part(len);
      vecmath::exp_shifted(x.data() + start, 1.5f, part.data(), int64_t(len));
      ASSERT_EQ(std::memcmp(part.data(), whole.data() + start, len * sizeof(float)), 0)
          << "start " << start << " len " << len;
    }
  // In place (y aliasing x) gives the same.
  auto inplace = x;
  vecmath::exp_shifted(inplace.data(), 1.5f, inplace.data(), int64_t(x.size()));
  EXPECT_EQ(std::memcmp(inplace.data(), whole.data(), x.size() * sizeof(float)), 0);
}

TEST(VecMath, SumDouble) {
  const auto x = test::random_vector(1001, 121);
  double ref = 0;
  for (double v : x) ref += v;
  EXPECT_NEAR(vecmath::sum_double(x.data(), 1001), ref, 1e-12);
  EXPECT_EQ(vecmath::sum_double(x.data(), 0), 0.0);
  EXPECT_EQ(vecmath::sum_double(x.data(), 3), (x[0] + x[1]) + x[2]);
}

}  // namespace
}  // namespace sadari::cpu
