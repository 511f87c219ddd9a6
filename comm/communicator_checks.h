// Argument checks shared by every Communicator backend, so that a wrong call is
// rejected with the same message in a one-process run (SelfCommunicator) as on
// a cluster (MPI, NCCL). Each throws sadari::Error whose `where` names the group
// and the ranks ("group ep, rank 1 of 2 (world rank 5)").
#pragma once

#include <cstdint>
#include <string>

#include "comm/communicator.h"

namespace sadari {

std::string where_in(const Communicator& comm);

// count >= 0.
void check_count(const Communicator& comm, const char* operation, int64_t count);
// Reductions need an arithmetic type the backends can add: f32, f64, i32, i64.
// (bf16 and fp8 are moved, never reduced: reduce in f32 and convert.)
void check_reducible(const Communicator& comm, const char* operation, DType dtype);
// 0 <= rank < comm.size(); `role` is "peer" or "root".
void check_rank(const Communicator& comm, const char* operation, const char* role, int rank);
// counts[r] >= 0 and displs[r] >= 0 for every rank r (arrays of comm.size()).
void check_counts_and_displs(const Communicator& comm, const char* operation,
                             const int64_t* counts, const int64_t* displs, const char* which);

}  // namespace sadari
