// Checks of the test_mpi harness itself (mpi_gtest_main.cpp): a failure seen on
// a rank other than 0 must make the whole job fail and be named by rank 0.
// The failure is injected only when SADARI_MPI_HARNESS_INJECT_FAILURE is set:
// ctest runs this as mpi.harness_reports_failure_on_other_rank, which passes
// only when the job exits non-zero with "MpiHarness.FailsOnlyOnRank1 (on rank 1)"
// in its output (tests/mpi/CMakeLists.txt). In the normal suite it skips.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "tests/mpi/mpi_test_env.h"

TEST(MpiHarness, FailsOnlyOnRank1) {
  if (std::getenv("SADARI_MPI_HARNESS_INJECT_FAILURE") == nullptr)
    GTEST_SKIP() << "only run by ctest's harness check";
  if (sadari::test::world().rank() == 1) ADD_FAILURE() << "failure injected on rank 1";
}

// A hang outside any communication call (rank 1 computes forever while rank 0
// waits): the overall limit SADARI_TEST_TIMEOUT_S ends the job naming the test.
// Run as mpi.harness_ends_a_hang with SADARI_MPI_HARNESS_INJECT_HANG=1.
TEST(MpiHarness, HangsWhenAsked) {
  if (std::getenv("SADARI_MPI_HARNESS_INJECT_HANG") == nullptr)
    GTEST_SKIP() << "only run by ctest's harness check";
  if (sadari::test::world().rank() == 1) std::this_thread::sleep_for(std::chrono::seconds(120));
  sadari::test::world().barrier();
}
