// main() of test_mpi, the multi-rank GoogleTest executable (run by ctest through
// mpirun: mpi.np2, mpi.np3, mpi.np4, and tests registered with
// sadari_add_mpi_test). Every rank runs every test.
//
// - MPI is initialised once here (MpiEnvironment) and shared by all tests
//   through sadari::test::world() (tests/mpi/mpi_test_env.h).
// - Only rank 0 prints GoogleTest's normal output. The other ranks print only
//   their failures, each line prefixed with "[rank R]", and at the end rank 0
//   lists every test that failed on any rank.
// - The exit status is non-zero on EVERY rank when a test failed on ANY rank,
//   so mpirun (and ctest) report the failure whichever rank saw it.
// - A hang fails too: a blocked collective is ended by the communication
//   watchdog (SADARI_COMM_TIMEOUT_S, set by ctest), and anything else by an
//   overall limit (SADARI_TEST_TIMEOUT_S, default 600 s) that aborts the job
//   naming this rank and the test it was running.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kernels/gemm_backend.h"
#include "comm/abort_job.h"
#include "core/error.h"
#include "tests/mpi/mpi_test_env.h"

namespace sadari::test {

namespace {
MpiEnvironment* g_environment = nullptr;
}  // namespace

MpiEnvironment& mpi_environment() {
  SADARI_ASSERT(g_environment != nullptr);
  return *g_environment;
}

}  // namespace sadari::test

namespace {

// Prints a failing assertion of a rank other than 0 (whose default printer is
// removed), so that failures seen only there are not lost.
class RankFailurePrinter : public testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::string text = sadari::detail::cat("[rank ", rank_, "] ",
                                           result.file_name() ? result.file_name() : "?", ":",
                                           result.line_number(), ": Failure\n");
    const std::string message = result.message();
    size_t start = 0;
    while (start < message.size()) {  // every line prefixed: output of ranks interleaves
      const size_t end = std::min(message.find('\n', start), message.size());
      text += sadari::detail::cat("[rank ", rank_, "] ", message.substr(start, end - start), "\n");
      start = end + 1;
    }
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
  }

 private:
  int rank_;
};

// Remembers which test is running and which failed on this rank.
class TestTracker : public testing::EmptyTestEventListener {
 public:
  void OnTestStart(const testing::TestInfo& info) override {
    std::lock_guard<std::mutex> lock(mutex_);
    current_ = std::string(info.test_suite_name()) + "." + info.name();
  }
  void OnTestEnd(const testing::TestInfo& info) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (info.result()->Failed()) failed_ += current_ + "\n";
    current_ = "(between tests)";
  }
  std::string current() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return current_;
  }
  std::string failed() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return failed_;
  }

 private:
  mutable std::mutex mutex_;
  std::string current_ = "(before the first test)";
  std::string failed_;
};

// Calls on_expiry(limit_s) from its own thread unless destroyed within limit_s.
class OverallTimer {
 public:
  OverallTimer(double limit_s, std::function<void(double)> on_expiry)
      : thread_([this, limit_s, on_expiry = std::move(on_expiry)] {
          std::unique_lock<std::mutex> lock(mutex_);
          if (!done_signal_.wait_for(lock, std::chrono::duration<double>(limit_s),
                                     [this] { return done_; }))
            on_expiry(limit_s);
        }) {}
  ~OverallTimer() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    done_signal_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_signal_;
  bool done_ = false;
  std::thread thread_;  // last: starts after the members it uses exist
};

double overall_limit_s() {
  const char* text = std::getenv("SADARI_TEST_TIMEOUT_S");
  if (text == nullptr || *text == '\0') return 600;
  const double seconds = std::atof(text);
  return seconds > 0 ? seconds : 600;
}

// Gathers each rank's list of failed tests on rank 0 and prints the ones seen
// elsewhere. Collective over world.
void report_failures_on_rank0(sadari::Communicator& world, const std::string& failed_here) {
  // Characters travel as i32 (the Communicator moves typed elements).
  const int size = world.size();
  const int64_t length = static_cast<int64_t>(failed_here.size());
  std::vector<int64_t> lengths(static_cast<size_t>(size));
  world.all_gather(&length, lengths.data(), 1, sadari::DType::i64);
  std::vector<int32_t> mine(failed_here.begin(), failed_here.end());
  if (world.rank() != 0) {
    if (length > 0) world.send(mine.data(), length, sadari::DType::i32, 0, 0);
    return;
  }
  int64_t failures_elsewhere = 0;
  for (int r = 1; r < size; ++r) failures_elsewhere += lengths[static_cast<size_t>(r)] > 0;
  if (failures_elsewhere > 0)
    std::printf("[  FAILED  ] tests failed on %lld other rank(s), listed below (details in their "
                "[rank R] output):\n", static_cast<long long>(failures_elsewhere));
  for (int r = 1; r < size; ++r) {
    const int64_t n = lengths[static_cast<size_t>(r)];
    if (n == 0) continue;
    std::vector<int32_t> text(static_cast<size_t>(n));
    world.recv(text.data(), n, sadari::DType::i32, r, 0);
    std::string names(text.begin(), text.end());
    size_t start = 0;
    while (start < names.size()) {
      const size_t end = names.find('\n', start);
      std::printf("[  FAILED  ] %s (on rank %d)\n", names.substr(start, end - start).c_str(), r);
      start = end + 1;
    }
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  sadari::select_gemm_kernel(argv);  // first: may restart the process
  try {
    sadari::MpiEnvironment mpi(&argc, &argv);
    sadari::test::g_environment = &mpi;
    // mpirun hands the ranks a terminal, so GoogleTest would colour its output
    // even under ctest; plain text unless --gtest_color asks otherwise.
    GTEST_FLAG_SET(color, "no");
    testing::InitGoogleTest(&argc, argv);
    sadari::Communicator& world = mpi.world();
    const int rank = world.rank();

    testing::TestEventListeners& listeners = testing::UnitTest::GetInstance()->listeners();
    if (rank != 0) {
      delete listeners.Release(listeners.default_result_printer());
      listeners.Append(new RankFailurePrinter(rank));
    }
    auto* tracker = new TestTracker;  // owned by listeners
    listeners.Append(tracker);

    // Overall limit: a hang that is not inside a watched communication call.
    OverallTimer timer(overall_limit_s(), [rank, tracker](double limit_s) {
      sadari::abort_job(sadari::detail::cat("rank ", rank, ": test_mpi did not finish within ",
                                            limit_s, " s (SADARI_TEST_TIMEOUT_S); it was running ",
                                            tracker->current()),
                        1);
    });

    const int local_status = RUN_ALL_TESTS();
    report_failures_on_rank0(world, tracker->failed());
    int any_failed = local_status != 0 ? 1 : 0;
    world.all_reduce(&any_failed, 1, sadari::ReduceOp::max);
    sadari::test::g_environment = nullptr;
    return any_failed;
  } catch (const std::exception& e) {
    sadari::abort_job(std::string("test_mpi: ") + e.what(), 1);
  }
}
