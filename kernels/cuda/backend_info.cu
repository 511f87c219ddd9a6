#include "kernels/cuda/backend_info.h"

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <map>
#include <sstream>
#include <tuple>

#include "kernels/cuda/device.h"

namespace sadari::cuda {

namespace {

// CUDA encodes versions as 1000 * major + 10 * minor.
std::string cuda_version(int v) { return detail::cat(v / 1000, ".", v % 1000 / 10); }

// cuBLAS encodes 10000 * major + 100 * minor + patch.
std::string three_part_version(long long v) {
  return detail::cat(v / 10000, ".", v / 100 % 100, ".", v % 100);
}

}  // namespace

std::string backend_info() {
  std::ostringstream out;
  int runtime = 0, driver = 0;
  out << "CUDA runtime "
      << (cudaRuntimeGetVersion(&runtime) == cudaSuccess ? cuda_version(runtime) : "?");
  // 0 means no driver is installed.
  out << ", driver "
      << (cudaDriverGetVersion(&driver) == cudaSuccess && driver > 0 ? cuda_version(driver)
                                                                     : std::string("none"));
  out << ", cuBLASLt " << three_part_version(static_cast<long long>(cublasLtGetVersion()));
  out << ", code sm_90a";
  (void)cudaGetLastError();

  const int n = device_count();
  if (n == 0) {
    out << ", no GPU (" << no_device_reason() << ")";
    return out.str();
  }
  // Group identical GPUs: "8 x NVIDIA H200 (sm_90, 140 GiB)".
  std::map<std::tuple<std::string, int, int, size_t>, int> kinds;
  try {
    for (int i = 0; i < n; ++i) {
      const DeviceInfo d = device_info(i);
      ++kinds[{d.name, d.cc_major, d.cc_minor, d.total_memory >> 30}];
    }
  } catch (const Error& e) {
    out << ", " << n << " GPU" << (n == 1 ? "" : "s") << " (query failed: " << e.what() << ")";
    return out.str();
  }
  out << ", " << n << " GPU" << (n == 1 ? "" : "s") << ":";
  const char* sep = " ";
  for (const auto& [kind, count] : kinds) {
    const auto& [name, major, minor, gib] = kind;
    out << sep << count << " x " << name << " (sm_" << major << minor << ", " << gib << " GiB)";
    sep = ", ";
  }
  return out.str();
}

}  // namespace sadari::cuda
