// Learning-rate schedules against values worked out by hand: warm-up ramp,
// cosine endpoints and midpoint, WSD stable and decay phases, constant, min_lr.
#include "optim/lr_schedule.h"

#include <gtest/gtest.h>

#include <cmath>

namespace sadari {
namespace {

OptimConfig schedule(const char* name, double lr, double min_lr, int64_t warmup) {
  OptimConfig o;
  o.schedule = name;
  o.lr = lr;
  o.min_lr = min_lr;
  o.warmup_steps = warmup;
  return o;
}

TEST(LrSchedule, WarmupIsLinearRampToPeak) {
  // Step s of a 4-step warm-up uses lr * (s+1) / 4: the first update is not wasted
  // at 0, the last warm-up step reaches the peak.
  for (const char* name : {"cosine", "wsd", "constant"}) {
    const OptimConfig o = schedule(name, 0.01, 0.001, 4);
    EXPECT_DOUBLE_EQ(learning_rate(o, 0, 100), 0.0025) << name;
    EXPECT_DOUBLE_EQ(learning_rate(o, 1, 100), 0.005) << name;
    EXPECT_DOUBLE_EQ(learning_rate(o, 2, 100), 0.0075) << name;
    EXPECT_DOUBLE_EQ(learning_rate(o, 3, 100), 0.01) << name;
  }
}

TEST(LrSchedule, CosineEndpointsAndMidpoint) {
  // Warm-up 10 of 110 steps: the cosine spans the 100 steps after warm-up.
  const OptimConfig o = schedule("cosine", 1.0, 0.1, 10);
  EXPECT_DOUBLE_EQ(learning_rate(o, 10, 110), 1.0);   // start of decay: the peak
  EXPECT_NEAR(learning_rate(o, 60, 110), 0.55, 1e-12);  // halfway: (lr + min_lr) / 2
  // A quarter in: min + (lr - min) * (1 + cos(pi/4)) / 2.
  EXPECT_NEAR(learning_rate(o, 35, 110), 0.1 + 0.45 * (1 + std::sqrt(0.5)), 1e-12);
  EXPECT_NEAR(learning_rate(o, 110, 110), 0.1, 1e-12);  // the end: min_lr
  EXPECT_NEAR(learning_rate(o, 500, 110), 0.1, 1e-12);  // past the end it stays there
  // The last update (step 109) is within one cosine step of min_lr.
  const double last = learning_rate(o, 109, 110);
  EXPECT_GE(last, 0.1);
  EXPECT_LT(last, 0.1 + 0.45 * (1 - std::cos(M_PI / 100)) + 1e-12);
}

TEST(LrSchedule, CosineWithoutWarmupStartsAtPeak) {
  const OptimConfig o = schedule("cosine", 2.0, 0.0, 0);
  EXPECT_DOUBLE_EQ(learning_rate(o, 0, 40), 2.0);
  EXPECT_NEAR(learning_rate(o, 20, 40), 1.0, 1e-12);
  EXPECT_NEAR(learning_rate(o, 40, 40), 0.0, 1e-12);
}

TEST(LrSchedule, WsdStableThenLinearDecay) {
  // 100 steps, warm-up 5, decay over the last 20% = steps 80..99, linear, reaching
  // min_lr on the last update.
  OptimConfig o = schedule("wsd", 1.0, 0.1, 5);
  o.wsd_decay_fraction = 0.2;
  EXPECT_DOUBLE_EQ(learning_rate(o, 4, 100), 1.0);  // end of warm-up
  for (int64_t s = 5; s < 80; ++s) EXPECT_DOUBLE_EQ(learning_rate(o, s, 100), 1.0) << "stable step " << s;
  EXPECT_NEAR(learning_rate(o, 80, 100), 1.0 - 0.9 * 1 / 20, 1e-12);   // first decay step
  EXPECT_NEAR(learning_rate(o, 89, 100), 1.0 - 0.9 * 10 / 20, 1e-12);  // halfway
  EXPECT_NEAR(learning_rate(o, 99, 100), 0.1, 1e-12);                  // last step: min_lr
  EXPECT_NEAR(learning_rate(o, 150, 100), 0.1, 1e-12);
  for (int64_t s = 81; s < 100; ++s)
    EXPECT_NEAR(learning_rate(o, s - 1, 100) - learning_rate(o, s, 100), 0.9 / 20, 1e-12) << "step " << s;
}

TEST(LrSchedule, ConstantAfterWarmup) {
  const OptimConfig o = schedule("constant", 0.3, 0.01, 3);
  EXPECT_DOUBLE_EQ(learning_rate(o, 0, 50), 0.1);
  for (int64_t s = 3; s <= 60; ++s) EXPECT_DOUBLE_EQ(learning_rate(o, s, 50), 0.3) << s;
}

TEST(LrSchedule, StaysBetweenMinLrAndLr) {
  for (const char* name : {"cosine", "wsd"}) {
    for (int64_t total : {1, 2, 7, 50, 301}) {
      OptimConfig o = schedule(name, 3e-3, 3e-4, std::min<int64_t>(total, 5));
      o.wsd_decay_fraction = 0.3;
      for (int64_t s = o.warmup_steps; s < 2 * total + 2; ++s) {
        const double lr = learning_rate(o, s, total);
        EXPECT_GE(lr, 3e-4 - 1e-15) << name << " total " << total << " step " << s;
        EXPECT_LE(lr, 3e-3 + 1e-15) << name << " total " << total << " step " << s;
      }
      // Never increases after warm-up.
      for (int64_t s = o.warmup_steps + 1; s < total; ++s)
        EXPECT_LE(learning_rate(o, s, total), learning_rate(o, s - 1, total) + 1e-15)
            << name << " total " << total << " step " << s;
    }
  }
}

}  // namespace
}  // namespace sadari
