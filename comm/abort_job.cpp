#include "comm/abort_job.h"

#include <mpi.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace sadari {

void abort_job(const std::string& message, int code) {
  if (code == 0) code = 1;  // an abort never reports success
  static std::atomic<bool> already_aborting{false};
  if (already_aborting.exchange(true)) {
    // Another thread is printing and aborting; wait for it to end the process
    // rather than print a second, confusing message.
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  std::fprintf(stderr, "sadari: error: %s\n", message.c_str());
  std::fflush(stderr);
  std::fflush(stdout);
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

}  // namespace sadari
