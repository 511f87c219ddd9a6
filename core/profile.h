// Step-time breakdown by category, for benchmarks and `--profile` runs.
//
// A ProfileScope adds the wall time of its lifetime to one category when
// profiling is enabled; when disabled it costs one branch. Scopes are placed at
// leaves (a GEMM call, the attention kernel, the MoE permutation, the optimizer
// update) so categories do not overlap; whatever they do not cover is "other".
// Only the training thread may open scopes (never inside an OpenMP region).
#pragma once

#include <array>
#include <chrono>
#include <string_view>

namespace sadari {

enum class ProfileCategory { gemm, attention, moe_routing, optimizer, count };
std::string_view profile_category_name(ProfileCategory c);

struct Profile {
  std::array<double, static_cast<size_t>(ProfileCategory::count)> seconds{};
  double& operator[](ProfileCategory c) { return seconds[static_cast<size_t>(c)]; }
  double operator[](ProfileCategory c) const { return seconds[static_cast<size_t>(c)]; }
};

void set_profiling(bool enabled);
bool profiling_enabled();
// The totals since the last reset.
Profile profile_totals();
void reset_profile();

namespace detail {
extern bool g_profiling;
void profile_add(ProfileCategory c, double seconds);
Profile& totals();
}  // namespace detail

class ProfileScope {
 public:
  explicit ProfileScope(ProfileCategory c) : category_(c), active_(detail::g_profiling) {
    if (active_) start_ = std::chrono::steady_clock::now();
  }
  ~ProfileScope() {
    if (active_)
      detail::profile_add(category_, std::chrono::duration<double>(
                                         std::chrono::steady_clock::now() - start_)
                                         .count());
  }
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  ProfileCategory category_;
  bool active_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace sadari
