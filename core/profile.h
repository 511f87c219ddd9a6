// Step-time breakdown by category, for benchmarks and `--profile` runs.
//
// A ProfileScope adds the wall time of its lifetime to one category when
// profiling is enabled; when disabled it costs one branch. Scopes are placed at
// leaves (a GEMM call, the attention kernel, the MoE routing and permutation, the
// optimizer update); whatever they do not cover is "other".
//
// Nesting: a scope opened inside another is charged its own time, and that time
// is taken out of the enclosing scope (self time, as in a flat profile). So the
// categories never overlap and their sum never exceeds the wall time, even where
// one scope encloses another (an optimizer scope around code that calls a GEMM,
// say).
//
// Threads: only the training thread may open scopes, never inside an OpenMP
// region (the totals and the scope stack are not synchronised).
#pragma once

#include <array>
#include <string_view>

namespace sadari {

enum class ProfileCategory { gemm, attention, moe_routing, optimizer, count };
std::string_view profile_category_name(ProfileCategory c);

struct Profile {
  std::array<double, static_cast<size_t>(ProfileCategory::count)> seconds{};
  double& operator[](ProfileCategory c) { return seconds[static_cast<size_t>(c)]; }
  double operator[](ProfileCategory c) const { return seconds[static_cast<size_t>(c)]; }
  double total() const {
    double s = 0;
    for (double v : seconds) s += v;
    return s;
  }
};

void set_profiling(bool enabled);
bool profiling_enabled();
// The totals since the last reset (self time per category).
Profile profile_totals();
// A scope open across a reset is charged only for its time after the reset.
void reset_profile();

namespace detail {
extern bool g_profiling;
// Open and close the innermost scope (a stack of open scopes; see Nesting above).
void profile_enter(ProfileCategory c);
void profile_exit();
Profile& totals();
}  // namespace detail

class ProfileScope {
 public:
  explicit ProfileScope(ProfileCategory c) : active_(detail::g_profiling) {
    if (active_) detail::profile_enter(c);
  }
  ~ProfileScope() {
    if (active_) detail::profile_exit();
  }
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  bool active_;
};

}  // namespace sadari
