#include "comm/communicator_checks.h"

#include "core/error.h"

namespace sadari {

std::string where_in(const Communicator& comm) {
  return detail::cat("group ", comm.name(), ", rank ", comm.rank(), " of ", comm.size(),
                     " (world rank ", comm.world_rank(), ")");
}

void check_count(const Communicator& comm, const char* operation, int64_t count) {
  if (count < 0)
    fail(detail::cat(operation, ": negative element count ", count), where_in(comm),
         "counts are numbers of elements, 0 or more");
}

void check_reducible(const Communicator& comm, const char* operation, DType dtype) {
  switch (dtype) {
    case DType::f32:
    case DType::f64:
    case DType::i32:
    case DType::i64:
      return;
    default:
      fail(detail::cat(operation, ": cannot reduce elements of type ", dtype_name(dtype)),
           where_in(comm), "reduce in f32 (or f64) and convert the result");
  }
}

void check_rank(const Communicator& comm, const char* operation, const char* role, int rank) {
  if (rank < 0 || rank >= comm.size())
    fail(detail::cat(operation, ": ", role, " rank ", rank, " is outside the group (size ",
                     comm.size(), ")"),
         where_in(comm), "ranks of a group are numbered 0 .. size-1 within that group");
}

void check_counts_and_displs(const Communicator& comm, const char* operation,
                             const int64_t* counts, const int64_t* displs, const char* which) {
  for (int r = 0; r < comm.size(); ++r) {
    if (counts[r] < 0 || displs[r] < 0)
      fail(detail::cat(operation, ": ", which, " count ", counts[r], " / displacement ", displs[r],
                       " for rank ", r, " is negative"),
           where_in(comm), "counts and displacements are element offsets, 0 or more");
  }
}

}  // namespace sadari
