// One training run in one process: data, model, optimizer, the step loop,
// validation, progress and the run directory. (Multi-rank runs wrap the same
// pieces with the parallel runtime.)
//
// Run directory (logging.run_dir): config.yaml (the fully resolved config,
// written atomically before the first step) and metrics.jsonl.
#pragma once

#include <optional>
#include <vector>

#include "core/config.h"

namespace sadari {

struct TrainResult {
  std::vector<double> losses;                          // mean train CE per step
  std::vector<std::pair<int64_t, double>> val_losses;  // (step, validation CE)
  double final_val_loss = 0;
  std::optional<double> entropy_floor;                 // synthetic data: the loss floor
  double tokens_per_s = 0;                             // over the whole run
  double model_gflops = 0;                             // achieved, over the whole run
};

// Trains per `cfg` (already validated). Throws Error on bad input found at run
// time (data files, vocabulary, layouts this build cannot run).
TrainResult train(const Config& cfg);

}  // namespace sadari
