// abort_job: the one place where sadari ends a process on purpose.
//
// sadari's rule is that library code throws sadari::Error and only main() turns
// an error into an exit status. In a multi-process job that is not enough: a
// rank that returns from main while its peers wait in a collective leaves them
// hanging. abort_job is the documented exception, for exactly two callers:
//   - main(), when an Error ends one rank of a multi-rank run;
//   - the Watchdog (comm/watchdog.h), when a call waited longer than its timeout.
// It prints "sadari: error: <message>" once on stderr (a second caller, e.g. the
// watchdog racing main, prints nothing), then ends every rank of the job with
// MPI_Abort(MPI_COMM_WORLD, code); mpirun and srun then exit non-zero. Without an
// initialized MPI (one-process runs, or after MPI_Finalize) it ends this process
// with _Exit(code).
//
// Thread safety: may be called from any thread (MpiEnvironment asks for
// MPI_THREAD_MULTIPLE; MPI_Abort works from any thread in OpenMPI and MPICH).
#pragma once

#include <string>

namespace sadari {

// REQUIRES code != 0.
[[noreturn]] void abort_job(const std::string& message, int code);

}  // namespace sadari
