// Finite-difference gradient checking for layers with explicit backward passes.
//
// Usage (double precision only; float has too few digits for a tight check):
//   run forward + backward once to get the analytic gradients (copy them out if the
//   parameters' grad buffers would be touched again), then
//     auto report = grad_check([&] { return loss_of_current_values(); },
//                              {{x.data(), n, dx.data(), "x"},
//                               {w->w<double>(), w->numel(), w->g<double>(), w->name}});
//     EXPECT_LE(report.max_rel_error, 1e-6) << report.summary();
// `loss` must recompute the loss from the current contents of the buffers and must
// not modify the analytic gradients. Each checked element is perturbed in place and
// restored bit-exactly.
//
// Numerical derivative: the 5-point central stencil
//   g = (8 (L(v+h) - L(v-h)) - (L(v+2h) - L(v-2h))) / (12 h),
// whose truncation error is O(h^4), so h can stay large enough (1e-4 by default)
// that rounding noise in L (~1e-16 |L| / h) is far below the tolerance. Set
// five_point = false for the 2-point stencil (L(v+h) - L(v-h)) / 2h.
//
// Relative error of an element: |a - g| / max(|a|, |g|, floor), where
// floor = max(abs_floor, floor_fraction * max_i |a_i| over the same target).
// The floor keeps entries that are near zero by accident (a sum of terms that
// nearly cancel) from reporting rounding noise as a relative error; a genuine
// error in such an entry is still caught once it exceeds floor_fraction times the
// tensor's gradient scale.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace sadari {

struct GradTarget {
  double* value;           // the buffer to perturb (parameter values or an input)
  int64_t n;               // elements
  const double* analytic;  // [n] the gradient under test
  std::string name;
};

struct GradCheckOptions {
  double eps = 1e-4;
  bool five_point = true;
  double floor_fraction = 1e-3;
  double abs_floor = 1e-10;
  int64_t max_elements = 0;  // per target; 0 = all, otherwise an evenly spaced subset
};

struct GradCheckReport {
  double max_rel_error = 0.0;
  std::string worst_name;
  int64_t worst_index = -1;
  double worst_analytic = 0.0, worst_numeric = 0.0;
  int64_t checked = 0;
  std::vector<std::pair<std::string, double>> per_target;  // name -> max rel error

  std::string summary() const {
    std::ostringstream out;
    out << "max rel error " << max_rel_error << " at " << worst_name << "[" << worst_index
        << "] analytic " << worst_analytic << " numeric " << worst_numeric << " (" << checked
        << " elements);";
    for (const auto& [name, err] : per_target) out << " " << name << ": " << err;
    return out.str();
  }
};

inline GradCheckReport grad_check(const std::function<double()>& loss,
                                  const std::vector<GradTarget>& targets,
                                  const GradCheckOptions& opt = {}) {
  GradCheckReport report;
  const double h = opt.eps;
  for (const GradTarget& tg : targets) {
    double scale = 0.0;
    for (int64_t i = 0; i < tg.n; ++i) scale = std::max(scale, std::fabs(tg.analytic[i]));
    const double floor = std::max(opt.abs_floor, opt.floor_fraction * scale);
    const int64_t count =
        (opt.max_elements > 0 && tg.n > opt.max_elements) ? opt.max_elements : tg.n;
    double target_max = 0.0;
    for (int64_t j = 0; j < count; ++j) {
      const int64_t i = count == tg.n ? j : (j * tg.n) / count;
      const double v = tg.value[i];
      auto at = [&](double delta) {
        tg.value[i] = v + delta;
        const double l = loss();
        tg.value[i] = v;
        return l;
      };
      double numeric;
      if (opt.five_point)
        numeric = (8.0 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12.0 * h);
      else
        numeric = (at(h) - at(-h)) / (2.0 * h);
      const double a = tg.analytic[i];
      const double err =
          std::fabs(a - numeric) / std::max({std::fabs(a), std::fabs(numeric), floor});
      ++report.checked;
      target_max = std::max(target_max, err);
      if (err > report.max_rel_error || report.worst_index < 0) {
        report.max_rel_error = std::max(report.max_rel_error, err);
        report.worst_name = tg.name;
        report.worst_index = i;
        report.worst_analytic = a;
        report.worst_numeric = numeric;
      }
    }
    report.per_target.emplace_back(tg.name, target_max);
  }
  return report;
}

}  // namespace sadari
