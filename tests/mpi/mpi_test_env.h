// What every test in test_mpi (tests/mpi/*.cpp) may use: the MPI environment
// that mpi_gtest_main.cpp set up for the whole run. See tests/mpi/README.md for
// the conventions (every rank runs every test; collectives in the same order on
// all ranks; GTEST_SKIP on all ranks alike when the world size does not fit).
#pragma once

#include "comm/mpi_communicator.h"
#include "comm/mpi_environment.h"

namespace sadari::test {

MpiEnvironment& mpi_environment();
// The world communicator ("world", every rank of the job).
inline MpiCommunicator& world() { return mpi_environment().world(); }

}  // namespace sadari::test
