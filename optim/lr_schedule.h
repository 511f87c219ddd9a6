// Learning-rate schedules: linear warm-up to optim.lr, then
//   cosine:   cosine decay from lr to min_lr over the remaining steps;
//   wsd:      warm-up, stable at lr, then linear decay to min_lr over the last
//             wsd_decay_fraction of the steps (Warmup-Stable-Decay, MiniCPM / DeepSeek-V3);
//   constant: lr after warm-up.
// step counts from 0; the rate for step s is the one used by the s-th update.
#pragma once

#include <cstdint>

#include "core/config.h"

namespace sadari {

double learning_rate(const OptimConfig& optim, int64_t step, int64_t total_steps);

}  // namespace sadari
