#include "core/profile.h"

#include <chrono>

#include "core/error.h"

namespace sadari {

namespace detail {
bool g_profiling = false;
namespace {

using Clock = std::chrono::steady_clock;

Profile g_totals;

// The open scopes, innermost last. Only the innermost one accumulates: opening a
// scope charges its parent up to now, closing one restarts its parent's clock.
struct OpenScope {
  ProfileCategory category;
  Clock::time_point since;
};
constexpr int kMaxDepth = 16;
OpenScope g_stack[kMaxDepth];
int g_depth = 0;

void charge(OpenScope& s, Clock::time_point now) {
  g_totals[s.category] += std::chrono::duration<double>(now - s.since).count();
}

}  // namespace

void profile_enter(ProfileCategory c) {
  SADARI_ASSERT(g_depth < kMaxDepth);
  const Clock::time_point now = Clock::now();
  if (g_depth > 0) charge(g_stack[g_depth - 1], now);
  g_stack[g_depth++] = {c, now};
}

void profile_exit() {
  if (g_depth == 0) return;  // unreachable with scopes (RAII); never throw from a destructor
  const Clock::time_point now = Clock::now();
  charge(g_stack[--g_depth], now);
  if (g_depth > 0) g_stack[g_depth - 1].since = now;
}

Profile& totals() { return g_totals; }
}  // namespace detail

std::string_view profile_category_name(ProfileCategory c) {
  switch (c) {
    case ProfileCategory::gemm: return "gemm";
    case ProfileCategory::attention: return "attention";
    case ProfileCategory::moe_routing: return "moe_routing";
    case ProfileCategory::optimizer: return "optimizer";
    case ProfileCategory::count: break;
  }
  return "?";
}

void set_profiling(bool enabled) { detail::g_profiling = enabled; }
bool profiling_enabled() { return detail::g_profiling; }
Profile profile_totals() { return detail::totals(); }
void reset_profile() { detail::totals() = Profile{}; }

}  // namespace sadari
