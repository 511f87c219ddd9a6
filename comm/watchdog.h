// Watchdog: turns a hung communication call into a job abort with a message.
//
// A blocking call that waits for a peer that died or stalled would otherwise
// hang the job until the cluster's wall-clock limit. Every blocking call of
// MpiCommunicator (collectives, send/recv, wait, split) registers itself here
// for its duration (Watchdog::Scope). One background thread per Watchdog checks
// the registered calls; when one has been running longer than the timeout it
// builds
//   rank R: <op> on group <g> (size S) did not complete within T s: a peer rank
//   died or stalled (hint: ...)
// and hands it to the timeout handler, by default abort_job (comm/abort_job.h),
// which prints it and ends the whole job with MPI_Abort.
//
// Why a thread rather than MPI_Test polling loops: the blocking MPI calls keep
// the implementation's tuned algorithms (OpenMPI's non-blocking collectives go
// through a different, simpler module), and the cost per call is one mutex and
// one clock read. MPI_Abort then comes from the watchdog thread, which the MPI
// thread level MULTIPLE allows (see MpiEnvironment).
//
// The timeout bounds the time ONE call may wait, so it must exceed the longest
// compute phase a peer can spend between two communications plus the longest
// transfer (parallel.comm_timeout_s, default 300 s). SADARI_COMM_TIMEOUT_S in
// the environment overrides the configured value (tests use a few seconds).
//
// Thread safety: all members may be called from any thread. The Watchdog must
// outlive every Scope and every communicator that refers to it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace sadari {

class Watchdog {
 public:
  // Receives the complete message (without the "sadari: error: " prefix).
  // The default handler calls abort_job and does not return.
  using TimeoutHandler = std::function<void(const std::string& message)>;

  // Starts the checking thread. REQUIRES timeout_s > 0.
  Watchdog(double timeout_s, int world_rank, TimeoutHandler on_timeout = {});
  ~Watchdog();  // stops the thread; calls still registered are no longer watched
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // REQUIRES seconds > 0. Applies to calls registered from now on and to the
  // ones running (they are measured from their start).
  void set_timeout(double seconds);
  double timeout_s() const;

  // The value of SADARI_COMM_TIMEOUT_S, when set; throws Error when it is set
  // but is not a positive number.
  static std::optional<double> timeout_from_environment();

  // Registration of one blocking call for its lifetime. `operation` must be a
  // string literal (stored as a pointer); `group` must outlive the scope (the
  // communicator's name). peer < 0: the call has no single peer.
  class Scope {
   public:
    Scope(Scope&& other) noexcept;
    Scope& operator=(Scope&&) = delete;
    ~Scope();

   private:
    friend class Watchdog;
    Scope(Watchdog* owner, size_t slot) : owner_(owner), slot_(slot) {}
    Watchdog* owner_;
    size_t slot_;
  };
  [[nodiscard]] Scope watch(const char* operation, const std::string& group, int group_size,
                            int peer = -1, int tag = -1);

 private:
  struct Slot {
    bool active = false;
    bool reported = false;
    const char* operation = nullptr;
    const std::string* group = nullptr;
    int group_size = 0, peer = -1, tag = -1;
    std::chrono::steady_clock::time_point start;
  };

  void release(size_t slot);
  void run();
  std::string message_for(const Slot& slot, double timeout_s) const;

  const int world_rank_;
  TimeoutHandler on_timeout_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Slot> slots_;  // reused; a slot is free when !active
  double timeout_s_;
  bool stopping_ = false;
  std::thread thread_;  // last: started after every other member is ready
};

}  // namespace sadari
