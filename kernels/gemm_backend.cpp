#include "kernels/gemm_backend.h"

#include <cblas.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

namespace sadari {

namespace {

// Set, together with OPENBLAS_CORETYPE, before the restart: tells the restarted
// process (and its children) that sadari made the choice, and stops a loop.
constexpr const char* kChoiceMarker = "SADARI_OPENBLAS_CORETYPE_CHOSEN";

// What the restart said about itself when it could not happen.
std::string& restart_failure() {
  static std::string failure;
  return failure;
}

bool any_of(std::string_view name, std::initializer_list<std::string_view> names) {
  for (std::string_view n : names)
    if (name == n) return true;
  return false;
}

// OpenBLAS core names (0.3.21) whose sgemm uses AVX2 + FMA or AVX-512.
bool is_modern_core(std::string_view core) {
  return any_of(core, {"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"});
}

// The OPENBLAS_CORETYPE value the CPU's instruction set supports best; "" when
// it has neither AVX2 + FMA nor AVX-512.
std::string best_core_for_this_cpu() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return "SKYLAKEX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return __builtin_cpu_is("amd") ? "ZEN" : "HASWELL";
  return "";
}

std::string openblas_version() {
  // openblas_get_config(): "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64"
  const std::string config = openblas_get_config();
  const size_t space = config.find(' ', std::strlen("OpenBLAS "));
  return config.substr(0, space);
}

}  // namespace

void select_gemm_kernel(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE")) return;  // the user's choice, or ours after the restart
  const std::string detected = openblas_get_corename();
  if (is_modern_core(detected)) return;
  const std::string best = best_core_for_this_cpu();
  if (best.empty()) return;  // nothing better for this CPU
  ::setenv("OPENBLAS_CORETYPE", best.c_str(), 1);
  ::setenv(kChoiceMarker, detected.c_str(), 1);
  ::execv("/proc/self/exe", argv);
  // Still here: the restart failed. Go on with OpenBLAS's kernel, and say so.
  restart_failure() = "restart with OPENBLAS_CORETYPE=" + best + " failed: " + std::strerror(errno);
  ::unsetenv("OPENBLAS_CORETYPE");
  ::unsetenv(kChoiceMarker);
}

GemmBackendInfo gemm_backend_info() {
  GemmBackendInfo info;
  info.library = openblas_version() + " (OpenMP)";
  info.kernel = openblas_get_corename();
  const char* forced = std::getenv("OPENBLAS_CORETYPE");
  const char* marker = std::getenv(kChoiceMarker);
  if (forced && marker)
    info.chosen_by = std::string("sadari: OpenBLAS detected ") + marker;
  else if (forced)
    info.chosen_by = "OPENBLAS_CORETYPE";
  else if (!restart_failure().empty())
    info.chosen_by = "OpenBLAS; " + restart_failure();
  else
    info.chosen_by = "OpenBLAS";
  return info;
}

std::string describe_gemm_backend() {
  const GemmBackendInfo info = gemm_backend_info();
  return info.library + ", kernel " + info.kernel + " (chosen by " + info.chosen_by + ")";
}

}  // namespace sadari
