#include "comm/watchdog.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "comm/abort_job.h"
#include "core/error.h"

namespace sadari {

namespace {

constexpr const char* kTimeoutEnv = "SADARI_COMM_TIMEOUT_S";

void check_timeout(double seconds, const char* where) {
  if (!(seconds > 0) || !std::isfinite(seconds))
    fail(detail::cat("communication timeout must be a positive number of seconds, got ", seconds),
         where, "use e.g. 300 (seconds)");
}

}  // namespace

Watchdog::Watchdog(double timeout_s, int world_rank, TimeoutHandler on_timeout)
    : world_rank_(world_rank), on_timeout_(std::move(on_timeout)), timeout_s_(timeout_s) {
  check_timeout(timeout_s, "parallel.comm_timeout_s");
  if (!on_timeout_) on_timeout_ = [](const std::string& message) { abort_job(message, 1); };
  thread_ = std::thread([this] { run(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void Watchdog::set_timeout(double seconds) {
  check_timeout(seconds, "parallel.comm_timeout_s");
  {
    std::lock_guard<std::mutex> lock(mutex_);
    timeout_s_ = seconds;
  }
  wake_.notify_all();  // a shorter timeout may already have expired
}

double Watchdog::timeout_s() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return timeout_s_;
}

std::optional<double> Watchdog::timeout_from_environment() {
  const char* text = std::getenv(kTimeoutEnv);
  if (text == nullptr || *text == '\0') return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const double seconds = std::strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || !(seconds > 0) || !std::isfinite(seconds))
    fail(detail::cat("'", text, "' is not a positive number of seconds"), kTimeoutEnv,
         "unset it, or set it to e.g. 60");
  return seconds;
}

Watchdog::Scope Watchdog::watch(const char* operation, const std::string& group, int group_size,
                                int peer, int tag) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto free_slot = std::find_if(slots_.begin(), slots_.end(), [](const Slot& s) { return !s.active; });
  size_t index = static_cast<size_t>(free_slot - slots_.begin());
  if (free_slot == slots_.end()) slots_.emplace_back();
  Slot& slot = slots_[index];
  slot.active = true;
  slot.reported = false;
  slot.operation = operation;
  slot.group = &group;
  slot.group_size = group_size;
  slot.peer = peer;
  slot.tag = tag;
  slot.start = std::chrono::steady_clock::now();
  return Scope(this, index);
}

void Watchdog::release(size_t slot) {
  std::lock_guard<std::mutex> lock(mutex_);
  slots_[slot].active = false;
}

Watchdog::Scope::Scope(Scope&& other) noexcept : owner_(other.owner_), slot_(other.slot_) {
  other.owner_ = nullptr;
}

Watchdog::Scope::~Scope() {
  if (owner_ != nullptr) owner_->release(slot_);
}

std::string Watchdog::message_for(const Slot& slot, double timeout_s) const {
  std::string peer_part;
  if (slot.peer >= 0) peer_part = detail::cat(" with peer ", slot.peer, " (tag ", slot.tag, ")");
  return detail::cat(
      "rank ", world_rank_, ": ", slot.operation, peer_part, " on group ", *slot.group, " (size ",
      slot.group_size, ") did not complete within ", timeout_s,
      " s: a peer rank died or stalled (hint: look for an earlier error from another rank; if a "
      "rank legitimately computes or transfers for longer than this between communications, "
      "raise parallel.comm_timeout_s)");
}

void Watchdog::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    // Check often enough that a timeout is noticed within ~10% of its length,
    // but not more than 10 times a second (the thread should cost nothing).
    const double period_s = std::clamp(timeout_s_ / 10, 0.1, 1.0);
    wake_.wait_for(lock, std::chrono::duration<double>(period_s));
    if (stopping_) break;
    const auto now = std::chrono::steady_clock::now();
    for (Slot& slot : slots_) {
      if (!slot.active || slot.reported) continue;
      const double elapsed = std::chrono::duration<double>(now - slot.start).count();
      if (elapsed <= timeout_s_) continue;
      slot.reported = true;
      const std::string message = message_for(slot, timeout_s_);
      // The handler (abort_job) does not return in a real run; a test handler
      // does, so call it without holding the lock.
      lock.unlock();
      on_timeout_(message);
      lock.lock();
      break;  // slots_ may have changed while unlocked; rescan on the next round
    }
  }
}

}  // namespace sadari
