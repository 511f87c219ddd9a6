// Training progress for people and for machines.
//
// On a terminal (progress: auto with stdout a TTY, or bar) a one-line progress bar
// with ETA is redrawn in place and log lines are printed above it; otherwise
// (plain, or auto when piped) one plain line every log_every steps. Every step's
// metrics are also appended to <run_dir>/metrics.jsonl when logging.jsonl is on,
// one JSON object per line, flushed per line so a crash loses at most one.
// Not thread-safe: call from the training thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "core/config.h"

namespace sadari {

struct StepMetrics {
  int64_t step = 0;          // 1-based, after the update
  double loss = 0;           // mean cross-entropy of the step's global batch (nats/token)
  double aux_loss = 0;       // sum of MoE auxiliary losses (already alpha-weighted)
  double lr = 0;
  double grad_norm = 0;      // before clipping
  double tokens_per_s = 0;
  double gflops = 0;         // achieved model GFLOP/s
  double expert_load_max_over_mean = 0;  // max over MoE layers of max/mean tokens per expert
  int64_t dropped_pairs = 0; // (token, slot) pairs over capacity, all layers and ranks
  double seconds = 0;        // wall time of the step
};

class ProgressReporter {
 public:
  // Opens <run_dir>/metrics.jsonl (truncating) when logging.jsonl. Throws Error
  // naming the path if it cannot.
  // append: continue an existing metrics.jsonl (a resumed run) instead of
  // starting it anew.
  ProgressReporter(const LoggingConfig& logging, int64_t total_steps, bool append = false);
  ~ProgressReporter();

  void on_step(const StepMetrics& m);
  void on_validation(int64_t step, double val_loss, std::optional<double> floor);
  // A free-form line printed above the bar (or plainly).
  void note(const std::string& line);
  // Appends one JSON object (a complete line without the newline, e.g. an expert
  // rebalancing event) to metrics.jsonl when it is open.
  void record(const std::string& json_object);
  void finish();

 private:
  void draw_bar(const StepMetrics& m);
  void clear_bar();

  LoggingConfig logging_;
  int64_t total_steps_;
  bool bar_ = false;
  bool quiet_ = false;
  bool bar_visible_ = false;
  std::FILE* jsonl_ = nullptr;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace sadari
