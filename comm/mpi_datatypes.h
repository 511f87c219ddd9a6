// How sadari's element types, operations and int64 counts are described to MPI
// (used by MpiCommunicator; not part of the Communicator interface).
#pragma once

#include <mpi.h>

#include <cstdint>

#include "comm/communicator.h"

namespace sadari {

// f32 -> MPI_FLOAT ... ; bf16 and the fp8 types map to unsigned integers of
// their width: they are only ever moved, never reduced.
MPI_Datatype mpi_datatype(DType dtype);
MPI_Op mpi_op(ReduceOp op);

// `count` elements of `dtype` as the (datatype, count) pair of one MPI call:
// the element type and `count` itself when count <= max_count, otherwise ONE
// element of a committed derived type covering all of them (a struct of
// count / max_count contiguous chunks of max_count elements and one contiguous
// remainder) whose extent is count * dtype_size(dtype), so consecutive blocks
// of such elements sit where plain elements would. Owns the derived type.
class MpiElements {
 public:
  MpiElements(int64_t count, DType dtype, int64_t max_count);
  // `count` (>= 1) elements as ONE element of a committed datatype (the
  // element type itself when count == 1), for use as the unit of counts and
  // displacements in calls like MPI_Alltoallv.
  static MpiElements as_unit(int64_t count, DType dtype, int64_t max_count);
  ~MpiElements();
  MpiElements(MpiElements&& other) noexcept;
  MpiElements(const MpiElements&) = delete;
  MpiElements& operator=(const MpiElements&) = delete;
  MpiElements& operator=(MpiElements&&) = delete;

  MPI_Datatype type() const { return type_; }
  int count() const { return count_; }

 private:
  MpiElements() = default;
  MPI_Datatype type_ = MPI_DATATYPE_NULL;
  int count_ = 0;
  bool derived_ = false;
};

}  // namespace sadari
