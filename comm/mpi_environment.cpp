#include "comm/mpi_environment.h"

#include <mpi.h>

#include "core/error.h"

namespace sadari {

MpiEnvironment::MpiEnvironment(int* argc, char*** argv, double comm_timeout_s) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized)
    fail("MPI is already initialized", "MpiEnvironment",
         "create exactly one MpiEnvironment per process, in main()");
  if (MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &thread_level_) != MPI_SUCCESS)
    fail("MPI_Init_thread failed", "MpiEnvironment",
         "run under mpirun/srun, or check the MPI installation");
  int world_rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  try {
    watchdog_ = std::make_unique<Watchdog>(
        Watchdog::timeout_from_environment().value_or(comm_timeout_s), world_rank);
    world_ = std::make_unique<MpiCommunicator>(MPI_COMM_WORLD, "world", *watchdog_);
  } catch (...) {
    world_.reset();
    watchdog_.reset();
    MPI_Finalize();
    throw;
  }
}

MpiEnvironment::~MpiEnvironment() {
  world_.reset();
  {
    // MPI_Finalize synchronises with the peers; a peer that never gets there
    // must not hang this rank forever either.
    int size = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    auto watch = watchdog_->watch("MPI_Finalize", finalize_group_, size);
    MPI_Finalize();
  }
  watchdog_.reset();
}

void MpiEnvironment::set_comm_timeout(double seconds) {
  watchdog_->set_timeout(Watchdog::timeout_from_environment().value_or(seconds));
}

}  // namespace sadari
