// Small helpers every benchmark uses: wall-clock seconds since a time point and
// the median of a sample (the statistic the benchmarks report: robust to the
// occasional descheduled run on a shared machine).
#pragma once

#include <algorithm>
#include <chrono>
#include <vector>

namespace sadari::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The upper median (v[n/2] after sorting); 0 for an empty sample.
inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace sadari::bench
