// Profile scopes: self time per category, so nested scopes never count twice and
// the categories never add up to more than the wall time. (Accounting, not speed:
// every bound here holds however slow the machine is.)
#include "core/profile.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace sadari {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kSleep = std::chrono::milliseconds(20);

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

TEST(Profile, NestedScopeIsTakenOutOfItsParent) {
  set_profiling(true);
  reset_profile();
  const auto t0 = Clock::now();
  Clock::duration inner{};
  {
    ProfileScope outer(ProfileCategory::optimizer);
    std::this_thread::sleep_for(kSleep);
    const auto i0 = Clock::now();
    {
      ProfileScope nested(ProfileCategory::gemm);
      std::this_thread::sleep_for(kSleep);
    }
    inner = Clock::now() - i0;
    std::this_thread::sleep_for(kSleep);
  }
  const double wall = seconds(Clock::now() - t0);
  set_profiling(false);
  const Profile p = profile_totals();
  EXPECT_GE(p[ProfileCategory::gemm], seconds(kSleep));
  EXPECT_LE(p[ProfileCategory::gemm], seconds(inner));
  EXPECT_GE(p[ProfileCategory::optimizer], 2 * seconds(kSleep));
  EXPECT_LE(p[ProfileCategory::optimizer] + p[ProfileCategory::gemm], wall);
  EXPECT_EQ(p[ProfileCategory::attention], 0.0);
  EXPECT_DOUBLE_EQ(p.total(), p[ProfileCategory::optimizer] + p[ProfileCategory::gemm]);
}

TEST(Profile, SameCategoryNestedCountsOnce) {
  set_profiling(true);
  reset_profile();
  const auto t0 = Clock::now();
  {
    ProfileScope a(ProfileCategory::moe_routing);
    ProfileScope b(ProfileCategory::moe_routing);
    std::this_thread::sleep_for(kSleep);
  }
  const double wall = seconds(Clock::now() - t0);
  set_profiling(false);
  EXPECT_LE(profile_totals()[ProfileCategory::moe_routing], wall);
  EXPECT_GE(profile_totals()[ProfileCategory::moe_routing], seconds(kSleep));
}

TEST(Profile, DisabledScopesRecordNothing) {
  set_profiling(false);
  reset_profile();
  {
    ProfileScope s(ProfileCategory::gemm);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(profile_totals().total(), 0.0);
  EXPECT_FALSE(profiling_enabled());
}

}  // namespace
}  // namespace sadari
