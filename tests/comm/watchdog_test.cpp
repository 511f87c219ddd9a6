// Watchdog without MPI: a handler that records instead of aborting the job.
// Timeouts here are hang detection, not performance assertions: an operation
// held for many times the timeout must be reported, and one that completes
// quickly under a long timeout must not be.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

#include "comm/watchdog.h"
#include "core/error.h"

namespace sadari {
namespace {

struct Recorder {
  std::mutex mutex;
  std::vector<std::string> messages;
  Watchdog::TimeoutHandler handler() {
    return [this](const std::string& m) {
      std::lock_guard<std::mutex> lock(mutex);
      messages.push_back(m);
    };
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mutex);
    return messages.size();
  }
};

TEST(Watchdog, ReportsACallThatOutlivesTheTimeoutNamingRankCallAndGroup) {
  Recorder recorder;
  Watchdog watchdog(0.2, 3, recorder.handler());
  const std::string group = "ep";
  {
    auto scope = watchdog.watch("all_to_all_v", group, 4);
    // Wait (bounded) for the report instead of sleeping a fixed time.
    for (int i = 0; i < 200 && recorder.count() == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(recorder.count(), 1u);  // reported once, not on every check
  const std::string& m = recorder.messages[0];
  EXPECT_NE(m.find("rank 3: all_to_all_v on group ep (size 4) did not complete within 0.2 s"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("a peer rank died or stalled"), std::string::npos) << m;
  EXPECT_NE(m.find("parallel.comm_timeout_s"), std::string::npos) << m;
}

TEST(Watchdog, NamesThePeerOfPointToPointCalls) {
  Recorder recorder;
  Watchdog watchdog(0.1, 0, recorder.handler());
  const std::string group = "pp";
  {
    auto scope = watchdog.watch("recv", group, 2, 1, 12);
    for (int i = 0; i < 200 && recorder.count() == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(recorder.count(), 1u);
  EXPECT_NE(recorder.messages[0].find("rank 0: recv with peer 1 (tag 12) on group pp (size 2)"),
            std::string::npos)
      << recorder.messages[0];
}

TEST(Watchdog, CompletedCallsAreNotReported) {
  Recorder recorder;
  Watchdog watchdog(30, 0, recorder.handler());
  const std::string group = "dp";
  for (int i = 0; i < 1000; ++i) {
    auto scope = watchdog.watch("all_reduce", group, 2);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(recorder.count(), 0u);
}

TEST(Watchdog, ShorterTimeoutAppliesToRunningCalls) {
  Recorder recorder;
  Watchdog watchdog(1000, 1, recorder.handler());
  const std::string group = "world";
  auto scope = watchdog.watch("barrier", group, 2);
  watchdog.set_timeout(0.1);
  EXPECT_EQ(watchdog.timeout_s(), 0.1);
  for (int i = 0; i < 200 && recorder.count() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(recorder.count(), 1u);
}

TEST(Watchdog, RejectsNonPositiveTimeouts) {
  EXPECT_THROW(Watchdog(0, 0, [](const std::string&) {}), Error);
  Watchdog watchdog(1, 0, [](const std::string&) {});
  EXPECT_THROW(watchdog.set_timeout(-1), Error);
}

TEST(Watchdog, EnvironmentOverride) {
  ::unsetenv("SADARI_COMM_TIMEOUT_S");
  EXPECT_FALSE(Watchdog::timeout_from_environment().has_value());
  ::setenv("SADARI_COMM_TIMEOUT_S", "2.5", 1);
  EXPECT_EQ(Watchdog::timeout_from_environment().value_or(0), 2.5);
  ::setenv("SADARI_COMM_TIMEOUT_S", "soon", 1);
  EXPECT_THROW(Watchdog::timeout_from_environment(), Error);
  ::setenv("SADARI_COMM_TIMEOUT_S", "0", 1);
  EXPECT_THROW(Watchdog::timeout_from_environment(), Error);
  ::unsetenv("SADARI_COMM_TIMEOUT_S");
}

}  // namespace
}  // namespace sadari
