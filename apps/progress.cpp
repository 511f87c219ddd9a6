#include "apps/progress.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "core/error.h"

namespace sadari {

namespace {
std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%02ld:%02ld", s / 60, s % 60);
  return buf;
}

std::string metrics_line(const StepMetrics& m, int64_t total) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "step %lld/%lld | loss %.4f | lr %.2e | grad norm %.3f | %.0f tok/s | "
                "%.2f GFLOP/s | expert load max/mean %.2f",
                static_cast<long long>(m.step), static_cast<long long>(total), m.loss, m.lr,
                m.grad_norm, m.tokens_per_s, m.gflops, m.expert_load_max_over_mean);
  std::string line = buf;
  // Only runs with a capacity limit drop pairs; dropless runs keep the line short.
  if (m.dropped_pairs > 0) line += " | dropped pairs " + std::to_string(m.dropped_pairs);
  return line;
}
}  // namespace

ProgressReporter::ProgressReporter(const LoggingConfig& logging, int64_t total_steps,
                                   bool append)
    : logging_(logging), total_steps_(total_steps), start_(std::chrono::steady_clock::now()) {
  bar_ = logging.progress == "bar" || (logging.progress == "auto" && isatty(STDOUT_FILENO));
  quiet_ = logging.progress == "none";
  if (logging.jsonl) {
    std::error_code ec;
    std::filesystem::create_directories(logging.run_dir, ec);
    const std::string path = logging.run_dir + "/metrics.jsonl";
    jsonl_ = std::fopen(path.c_str(), append ? "a" : "w");
    if (!jsonl_)
      fail("cannot open metrics file for writing", path,
           "check that logging.run_dir is writable, or set logging.jsonl=false");
  }
}

ProgressReporter::~ProgressReporter() {
  if (jsonl_) std::fclose(jsonl_);
}

void ProgressReporter::clear_bar() {
  if (bar_visible_) {
    std::printf("\r\033[2K");
    bar_visible_ = false;
  }
}

void ProgressReporter::draw_bar(const StepMetrics& m) {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double fraction = static_cast<double>(m.step) / static_cast<double>(total_steps_);
  const double eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : NAN;
  constexpr int kWidth = 24;
  const int filled = static_cast<int>(fraction * kWidth);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(kWidth, '.');
  std::printf("\r\033[2K[%s] %3.0f%% step %lld/%lld loss %.4f %.0f tok/s ETA %s", bar.c_str(),
              100 * fraction, static_cast<long long>(m.step),
              static_cast<long long>(total_steps_), m.loss, m.tokens_per_s,
              format_duration(eta).c_str());
  std::fflush(stdout);
  bar_visible_ = true;
}

void ProgressReporter::on_step(const StepMetrics& m) {
  if (jsonl_) {
    std::fprintf(jsonl_,
                 "{\"step\":%lld,\"loss\":%.17g,\"aux_loss\":%.17g,\"lr\":%.17g,\"grad_norm\":%.17g,"
                 "\"tokens_per_s\":%.6g,\"gflops\":%.6g,\"expert_load_max_over_mean\":%.6g,"
                 "\"dropped_pairs\":%lld,\"seconds\":%.6g}\n",
                 static_cast<long long>(m.step), m.loss, m.aux_loss, m.lr, m.grad_norm,
                 m.tokens_per_s, m.gflops, m.expert_load_max_over_mean,
                 static_cast<long long>(m.dropped_pairs), m.seconds);
    std::fflush(jsonl_);
  }
  if (quiet_) return;
  const bool log_line = m.step % logging_.log_every == 0 || m.step == 1 || m.step == total_steps_;
  if (log_line) note(metrics_line(m, total_steps_));
  if (bar_) draw_bar(m);
}

void ProgressReporter::record(const std::string& json_object) {
  if (!jsonl_) return;
  std::fprintf(jsonl_, "%s\n", json_object.c_str());
  std::fflush(jsonl_);
}

void ProgressReporter::on_validation(int64_t step, double val_loss, std::optional<double> floor) {
  if (jsonl_) {
    std::fprintf(jsonl_, "{\"step\":%lld,\"val_loss\":%.17g}\n", static_cast<long long>(step),
                 val_loss);
    std::fflush(jsonl_);
  }
  char buf[160];
  if (floor)
    std::snprintf(buf, sizeof buf, "step %lld | validation loss %.4f (entropy floor %.4f, +%.1f%%)",
                  static_cast<long long>(step), val_loss, *floor, 100 * (val_loss / *floor - 1));
  else
    std::snprintf(buf, sizeof buf, "step %lld | validation loss %.4f",
                  static_cast<long long>(step), val_loss);
  if (!quiet_) note(buf);
}

void ProgressReporter::note(const std::string& line) {
  if (quiet_) return;
  clear_bar();
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

void ProgressReporter::finish() {
  clear_bar();
  std::fflush(stdout);
}

}  // namespace sadari
