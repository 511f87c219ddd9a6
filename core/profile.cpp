#include "core/profile.h"

namespace sadari {

namespace detail {
bool g_profiling = false;
namespace {
Profile g_totals;
}
void profile_add(ProfileCategory c, double seconds) { g_totals[c] += seconds; }
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
