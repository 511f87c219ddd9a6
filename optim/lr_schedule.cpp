#include "optim/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace sadari {

double learning_rate(const OptimConfig& o, int64_t step, int64_t total_steps) {
  if (o.warmup_steps > 0 && step < o.warmup_steps)
    return o.lr * static_cast<double>(step + 1) / static_cast<double>(o.warmup_steps);
  if (o.schedule == "constant") return o.lr;
  const double after = static_cast<double>(step - o.warmup_steps);
  const double span = static_cast<double>(std::max<int64_t>(1, total_steps - o.warmup_steps));
  if (o.schedule == "cosine") {
    const double progress = std::min(1.0, after / span);
    return o.min_lr + 0.5 * (o.lr - o.min_lr) * (1.0 + std::cos(M_PI * progress));
  }
  // wsd
  const double decay_steps = std::max(1.0, o.wsd_decay_fraction * static_cast<double>(total_steps));
  const double decay_start = static_cast<double>(total_steps) - decay_steps;
  if (static_cast<double>(step) < decay_start) return o.lr;
  const double progress = std::min(1.0, (static_cast<double>(step) - decay_start + 1) / decay_steps);
  return o.lr + (o.min_lr - o.lr) * progress;
}

}  // namespace sadari
