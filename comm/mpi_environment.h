// MpiEnvironment: MPI for the lifetime of one object (RAII), with the world
// communicator and the communication watchdog.
//
//   int main(int argc, char** argv) {
//     sadari::MpiEnvironment mpi(&argc, &argv);       // MPI_Init_thread
//     sadari::Communicator& world = mpi.world();
//     ...
//   }                                                 // MPI_Finalize
//
// Thread level: asks for MPI_THREAD_MULTIPLE, because (1) the Communicator
// contract lets different communicators be used from different threads (e.g.
// gradient reduction overlapping compute), and (2) the watchdog thread calls
// MPI_Abort while the main thread is blocked inside MPI. OpenMPI 4.1 and MPICH
// provide it (OpenMPI's cost is a lock around its progress engine, too small to
// measure next to our transfers). When the library provides less,
// thread_level() says so; single-threaded use is still correct and the
// watchdog's MPI_Abort still ends the job in OpenMPI and MPICH.
//
// Errors: the constructor throws Error when MPI is already initialized or
// cannot start. In a run with several ranks, main() must end an Error with
// abort_job (comm/abort_job.h), not by returning: returning would run this
// destructor, whose MPI_Finalize waits for peers that may be blocked in a
// collective with the failed rank (the watchdog would end that wait, but only
// after the full timeout).
//
// Lifetime: exactly one per process; every communicator made from world() must
// be destroyed before it. Not copyable or movable.
#pragma once

#include <memory>
#include <string>

#include "comm/mpi_communicator.h"
#include "comm/watchdog.h"

namespace sadari {

class MpiEnvironment {
 public:
  // argc/argv may be null. comm_timeout_s: see Watchdog; SADARI_COMM_TIMEOUT_S
  // in the environment overrides it.
  MpiEnvironment(int* argc, char*** argv, double comm_timeout_s = 300);
  ~MpiEnvironment();
  MpiEnvironment(const MpiEnvironment&) = delete;
  MpiEnvironment& operator=(const MpiEnvironment&) = delete;

  // All processes of the job (a duplicate of MPI_COMM_WORLD named "world").
  MpiCommunicator& world() { return *world_; }
  Watchdog& watchdog() { return *watchdog_; }

  // For the trainer, once the config is loaded (parallel.comm_timeout_s).
  // SADARI_COMM_TIMEOUT_S, when set, still wins.
  void set_comm_timeout(double seconds);

  // MPI_THREAD_SINGLE .. MPI_THREAD_MULTIPLE, as provided by the library.
  int thread_level() const { return thread_level_; }

 private:
  int thread_level_ = 0;
  std::unique_ptr<Watchdog> watchdog_;
  std::unique_ptr<MpiCommunicator> world_;
  const std::string finalize_group_ = "world";
};

}  // namespace sadari
