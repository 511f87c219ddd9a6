#include "comm/mpi_datatypes.h"

#include "core/error.h"

namespace sadari {

MPI_Datatype mpi_datatype(DType dtype) {
  switch (dtype) {
    case DType::f32: return MPI_FLOAT;
    case DType::f64: return MPI_DOUBLE;
    case DType::i32: return MPI_INT32_T;
    case DType::i64: return MPI_INT64_T;
    case DType::bf16: return MPI_UINT16_T;
    case DType::f8_e4m3:
    case DType::f8_e5m2: return MPI_UINT8_T;
  }
  SADARI_ASSERT(false);
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return MPI_SUM;
    case ReduceOp::max: return MPI_MAX;
  }
  SADARI_ASSERT(false);
}

MpiElements::MpiElements(int64_t count, DType dtype, int64_t max_count) {
  SADARI_ASSERT(count >= 0 && max_count >= 1 && max_count <= INT32_MAX);
  const MPI_Datatype element = mpi_datatype(dtype);
  if (count <= max_count) {
    type_ = element;
    count_ = static_cast<int>(count);
    return;
  }
  const int64_t chunks = count / max_count, remainder = count % max_count;
  SADARI_ASSERT(chunks <= INT32_MAX);
  MPI_Datatype chunk = MPI_DATATYPE_NULL;
  MPI_Type_contiguous(static_cast<int>(max_count), element, &chunk);
  if (remainder == 0) {
    MPI_Type_contiguous(static_cast<int>(chunks), chunk, &type_);
  } else {
    MPI_Datatype tail = MPI_DATATYPE_NULL;
    MPI_Type_contiguous(static_cast<int>(remainder), element, &tail);
    int block_lengths[2] = {static_cast<int>(chunks), 1};
    MPI_Aint offsets[2] = {0, static_cast<MPI_Aint>(chunks * max_count *
                                                    static_cast<int64_t>(dtype_size(dtype)))};
    MPI_Datatype parts[2] = {chunk, tail};
    MPI_Type_create_struct(2, block_lengths, offsets, parts, &type_);
    MPI_Type_free(&tail);
  }
  MPI_Type_free(&chunk);  // the derived type keeps what it needs
  MPI_Type_commit(&type_);
  count_ = 1;
  derived_ = true;
}

MpiElements MpiElements::as_unit(int64_t count, DType dtype, int64_t max_count) {
  SADARI_ASSERT(count >= 1);
  if (count > max_count || count == 1) return MpiElements(count, dtype, max_count);
  MpiElements unit;
  MPI_Type_contiguous(static_cast<int>(count), mpi_datatype(dtype), &unit.type_);
  MPI_Type_commit(&unit.type_);
  unit.count_ = 1;
  unit.derived_ = true;
  return unit;
}

MpiElements::~MpiElements() {
  if (derived_) MPI_Type_free(&type_);
}

MpiElements::MpiElements(MpiElements&& other) noexcept
    : type_(other.type_), count_(other.count_), derived_(other.derived_) {
  other.derived_ = false;
}

}  // namespace sadari
