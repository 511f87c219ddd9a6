// fault_rank: a two-rank job in which rank 1 fails in a chosen way just before
// a collective that rank 0 is already waiting in. ctest runs it (through
// cmake/SadariExpectFailure.cmake) to check that each kind of failure ends the
// WHOLE job, non-zero, with a message, well within the test's time limit:
//
//   fault_rank sleep   rank 1 stalls (sleeps 120 s): rank 0's watchdog
//                      (SADARI_COMM_TIMEOUT_S=3) aborts the job naming rank 0,
//                      the call and the group
//   fault_rank exit    rank 1 calls _exit(3): a dead peer
//   fault_rank vanish  rank 1 ends with status 0 without MPI_Finalize
//                      (std::exit skips the MpiEnvironment destructor)
//   fault_rank kill    rank 1 is killed by SIGKILL
//   fault_rank error   rank 1 throws sadari::Error; main ends the job with
//                      abort_job, the documented path for an error on one rank
//   fault_rank none    no fault: the job succeeds (checks the program itself)
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <unistd.h>

#include "comm/abort_job.h"
#include "comm/mpi_environment.h"
#include "core/error.h"

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode != "sleep" && mode != "exit" && mode != "vanish" && mode != "kill" &&
      mode != "error" && mode != "none") {
    std::fprintf(stderr, "usage: fault_rank sleep|exit|vanish|kill|error|none\n");
    return 2;
  }
  sadari::MpiEnvironment mpi(&argc, &argv);
  sadari::Communicator& world = mpi.world();
  try {
    // One collective that works, so the failure happens mid-run.
    float value = 1.0f;
    world.all_reduce(&value, 1, sadari::ReduceOp::sum);
    if (world.rank() == 1) {
      if (mode == "sleep") std::this_thread::sleep_for(std::chrono::seconds(120));
      if (mode == "exit") _exit(3);
      if (mode == "vanish") std::exit(0);
      if (mode == "kill") std::raise(SIGKILL);
      if (mode == "error")
        sadari::fail("injected failure", "fault_rank", "this error is part of a test");
    }
    world.all_reduce(&value, 1, sadari::ReduceOp::sum);
    world.barrier();
    if (world.rank() == 0) std::printf("fault_rank: completed, sum %g\n", value);
    return 0;
  } catch (const sadari::Error& e) {
    sadari::abort_job(sadari::detail::cat("rank ", world.world_rank(), ": ", e.what()), 1);
  }
}
