#include "comm/mpi_communicator.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <numeric>

#include "comm/communicator_checks.h"
#include "comm/mpi_datatypes.h"
#include "core/error.h"

namespace sadari {

namespace {

std::string mpi_error_text(int rc) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(rc, text, &length) != MPI_SUCCESS) return detail::cat("MPI error ", rc);
  return std::string(text, static_cast<size_t>(length));
}

int world_rank_now() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

const std::byte* bytes(const void* p) { return static_cast<const std::byte*>(p); }
std::byte* bytes(void* p) { return static_cast<std::byte*>(p); }

// Splits `total` elements into size() nearly equal pieces (the first total %
// size pieces one longer), as counts and displacements.
void split_evenly(int total, int parts, std::vector<int>& counts, std::vector<int>& displs) {
  counts.resize(static_cast<size_t>(parts));
  displs.resize(static_cast<size_t>(parts));
  const int base = total / parts, longer = total % parts;
  int offset = 0;
  for (int r = 0; r < parts; ++r) {
    counts[static_cast<size_t>(r)] = base + (r < longer ? 1 : 0);
    displs[static_cast<size_t>(r)] = offset;
    offset += counts[static_cast<size_t>(r)];
  }
}

// A non-blocking transfer. Keeps the datatype alive so that wait() can check
// how many elements arrived.
class MpiRequest final : public Request {
 public:
  MpiRequest(bool is_receive, int peer, int tag, MpiElements elements)
      : is_receive(is_receive), peer(peer), tag(tag), elements(std::move(elements)) {}
  ~MpiRequest() override {
    if (request == MPI_REQUEST_NULL) return;
    // Not waited: a bug, or an Error unwinding past the wait. A pending receive
    // would write into memory that may be freed next, so cancel it and wait for
    // the cancellation; a send's buffer is only read, so release the request.
    if (std::uncaught_exceptions() == 0)
      std::fprintf(stderr, "sadari: warning: a %s request (peer %d, tag %d) was destroyed "
                   "without wait()\n", is_receive ? "receive" : "send", peer, tag);
    if (is_receive) {
      MPI_Cancel(&request);
      MPI_Wait(&request, MPI_STATUS_IGNORE);
    } else {
      MPI_Request_free(&request);
    }
  }

  MPI_Request request = MPI_REQUEST_NULL;
  const bool is_receive;
  const int peer, tag;
  const MpiElements elements;
  bool waited = false;
};

}  // namespace

MpiCommunicator::MpiCommunicator(MPI_Comm comm, std::string name, Watchdog& watchdog,
                                 MpiCommunicatorOptions options)
    : name_(std::move(name)), watchdog_(watchdog), options_(options) {
  if (options_.max_count_per_call < 1 || options_.max_count_per_call > INT_MAX)
    fail(detail::cat("max_count_per_call ", options_.max_count_per_call,
                     " is outside 1 .. INT_MAX"),
         detail::cat("group ", name_), "leave it at its default");
  {
    int size = 0;
    MPI_Comm_size(comm, &size);
    auto watch = watchdog_.watch("communicator duplication", name_, size);
    const int rc = MPI_Comm_dup(comm, &comm_);
    if (rc != MPI_SUCCESS)
      fail(detail::cat("MPI_Comm_dup failed: ", mpi_error_text(rc)), detail::cat("group ", name_),
           "check the MPI installation");
  }
  MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
  world_rank_ = world_rank_now();
}

MpiCommunicator::MpiCommunicator(Adopt, MPI_Comm comm, std::string name, Watchdog& watchdog,
                                 MpiCommunicatorOptions options)
    : comm_(comm), name_(std::move(name)), watchdog_(watchdog), options_(options) {
  MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
  world_rank_ = world_rank_now();
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (comm_ != MPI_COMM_NULL && !finalized) MPI_Comm_free(&comm_);
}

void MpiCommunicator::check_mpi(int rc, const char* operation) const {
  if (rc == MPI_SUCCESS) return;
  fail(detail::cat(operation, " failed: ", mpi_error_text(rc)), where_in(*this),
       "if a peer rank failed, its own error message comes first; otherwise check that every "
       "rank makes the same calls with matching counts");
}

void MpiCommunicator::check_tag(const char* operation, int tag) const {
  if (tag < 0 || tag > kMaxTag)
    fail(detail::cat(operation, ": tag ", tag, " is outside 0 .. ", kMaxTag),
         where_in(*this), "use a small non-negative tag");
}

// ---------------------------------------------------------------- reductions

void MpiCommunicator::all_reduce_chunk(const std::byte* send, std::byte* recv, int count,
                                       DType dtype, ReduceOp op) {
  const MPI_Datatype type = mpi_datatype(dtype);
  const size_t element = dtype_size(dtype);
  split_evenly(count, size_, counts_, displs_);
  const size_t mine = static_cast<size_t>(rank_);
  // Step 1: each rank reduces one piece. Step 2: the pieces are gathered. Each
  // element is summed in one place only, so all ranks end with the same bits.
  std::byte* piece = recv + static_cast<size_t>(displs_[mine]) * element;
  const bool in_place = send == recv;
  if (in_place) {
    // The reduction must not write into the buffer it reads from.
    scratch_.resize(static_cast<size_t>(counts_[mine]) * element);
    piece = scratch_.data();
  }
  check_mpi(MPI_Reduce_scatter(send, piece, counts_.data(), type, mpi_op(op), comm_),
            "all_reduce (reduce-scatter phase)");
  if (in_place) {
    check_mpi(MPI_Allgatherv(piece, counts_[mine], type, recv, counts_.data(), displs_.data(),
                             type, comm_),
              "all_reduce (all-gather phase)");
  } else {
    check_mpi(MPI_Allgatherv(MPI_IN_PLACE, 0, type, recv, counts_.data(), displs_.data(), type,
                             comm_),
              "all_reduce (all-gather phase)");
  }
}

void MpiCommunicator::all_reduce(const void* send, void* recv, int64_t count, DType dtype,
                                 ReduceOp op) {
  check_count(*this, "all_reduce", count);
  check_reducible(*this, "all_reduce", dtype);
  auto watch = watchdog_.watch("all_reduce", name_, size_);
  const size_t element = dtype_size(dtype);
  int64_t done = 0;
  do {  // once even for count 0: a zero-length call still takes part
    const int64_t chunk = std::min(count - done, options_.max_count_per_call);
    const size_t offset = static_cast<size_t>(done) * element;
    all_reduce_chunk(bytes(send) + offset, bytes(recv) + offset, static_cast<int>(chunk), dtype,
                     op);
    done += chunk;
  } while (done < count);
}

void MpiCommunicator::reduce_scatter(const void* send, void* recv, int64_t recv_count,
                                     DType dtype, ReduceOp op) {
  check_count(*this, "reduce_scatter", recv_count);
  check_reducible(*this, "reduce_scatter", dtype);
  auto watch = watchdog_.watch("reduce_scatter", name_, size_);
  const MPI_Datatype type = mpi_datatype(dtype);
  const bool in_place = send == recv;
  if (recv_count <= options_.max_count_per_call) {
    check_mpi(MPI_Reduce_scatter_block(in_place ? MPI_IN_PLACE : send, recv,
                                       static_cast<int>(recv_count), type, mpi_op(op), comm_),
              "reduce_scatter");
    return;
  }
  // One chunked reduce per root, roots in increasing order. In place, root r
  // writes its block 0 while reading its block r; blocks of later roots
  // (r' > r >= 0) are never block 0, so nothing is overwritten before it is read.
  const size_t element = dtype_size(dtype);
  const size_t block_bytes = static_cast<size_t>(recv_count) * element;
  for (int root = 0; root < size_; ++root) {
    for (int64_t done = 0; done < recv_count;) {
      const int64_t chunk = std::min(recv_count - done, options_.max_count_per_call);
      const size_t offset = static_cast<size_t>(done) * element;
      const std::byte* block = bytes(send) + static_cast<size_t>(root) * block_bytes + offset;
      std::byte* target = bytes(recv) + offset;
      const bool root_in_place = root == rank_ && block == target;
      check_mpi(MPI_Reduce(root_in_place ? MPI_IN_PLACE : block, root == rank_ ? target : nullptr,
                           static_cast<int>(chunk), type, mpi_op(op), root, comm_),
                "reduce_scatter");
      done += chunk;
    }
  }
}

// ------------------------------------------------------------- data movement

void MpiCommunicator::all_gather(const void* send, void* recv, int64_t send_count, DType dtype) {
  check_count(*this, "all_gather", send_count);
  auto watch = watchdog_.watch("all_gather", name_, size_);
  const MpiElements elements(send_count, dtype, options_.max_count_per_call);
  const bool in_place =
      bytes(send) == bytes(recv) + static_cast<size_t>(rank_) * static_cast<size_t>(send_count) *
                                       dtype_size(dtype);
  check_mpi(MPI_Allgather(in_place ? MPI_IN_PLACE : send, elements.count(), elements.type(), recv,
                          elements.count(), elements.type(), comm_),
            "all_gather");
}

void MpiCommunicator::all_to_all(const void* send, void* recv, int64_t count_per_peer,
                                 DType dtype) {
  check_count(*this, "all_to_all", count_per_peer);
  auto watch = watchdog_.watch("all_to_all", name_, size_);
  const MpiElements elements(count_per_peer, dtype, options_.max_count_per_call);
  check_mpi(MPI_Alltoall(send, elements.count(), elements.type(), recv, elements.count(),
                         elements.type(), comm_),
            "all_to_all");
}

namespace {

// One side (send or receive) of an all_to_all_v as MPI_Alltoallv arguments:
// int counts and displacements in units of the returned datatype. The unit is
// one element while every value fits in `limit`; otherwise it is the greatest
// common divisor of the counts and displacements (the row width, when whole
// rows are exchanged), described as one derived datatype. MPI matches the two
// sides by type signature (the sequence of basic elements), so each rank and
// each side may choose its own unit: no agreement between ranks is needed.
MpiElements describe_side(const Communicator& comm, const int64_t* counts, const int64_t* displs,
                          DType dtype, int64_t limit, std::vector<int>& int_counts,
                          std::vector<int>& int_displs, const char* which) {
  const size_t n = static_cast<size_t>(comm.size());
  int64_t largest = 0, unit = 0;
  for (size_t r = 0; r < n; ++r) {
    largest = std::max({largest, counts[r], displs[r]});
    unit = std::gcd(unit, std::gcd(counts[r], displs[r]));
  }
  if (largest <= limit || unit == 0) unit = 1;
  if (largest / unit > limit)
    fail(detail::cat("all_to_all_v: the ", which, " counts and displacements reach ", largest,
                     " elements, more than one MPI call can address (", limit,
                     " units), and their greatest common divisor (", unit,
                     ") is too small to group them into larger units"),
         where_in(comm),
         "exchange whole rows: counts and displacements that are multiples of the row width "
         "can be arbitrarily large");
  int_counts.resize(n);
  int_displs.resize(n);
  for (size_t r = 0; r < n; ++r) {
    int_counts[r] = static_cast<int>(counts[r] / unit);
    int_displs[r] = static_cast<int>(displs[r] / unit);
  }
  return MpiElements::as_unit(unit, dtype, limit);
}

}  // namespace

void MpiCommunicator::all_to_all_v(const void* send, const int64_t* send_counts,
                                   const int64_t* send_displs, void* recv,
                                   const int64_t* recv_counts, const int64_t* recv_displs,
                                   DType dtype) {
  check_counts_and_displs(*this, "all_to_all_v", send_counts, send_displs, "send");
  check_counts_and_displs(*this, "all_to_all_v", recv_counts, recv_displs, "receive");
  const MpiElements send_unit =
      describe_side(*this, send_counts, send_displs, dtype, options_.max_count_per_call, counts_,
                    displs_, "send");
  const MpiElements recv_unit =
      describe_side(*this, recv_counts, recv_displs, dtype, options_.max_count_per_call,
                    counts2_, displs2_, "receive");
  auto watch = watchdog_.watch("all_to_all_v", name_, size_);
  check_mpi(MPI_Alltoallv(send, counts_.data(), displs_.data(), send_unit.type(), recv,
                          counts2_.data(), displs2_.data(), recv_unit.type(), comm_),
            "all_to_all_v");
}

void MpiCommunicator::broadcast(void* buf, int64_t count, DType dtype, int root) {
  check_count(*this, "broadcast", count);
  check_rank(*this, "broadcast", "root", root);
  auto watch = watchdog_.watch("broadcast", name_, size_);
  const MpiElements elements(count, dtype, options_.max_count_per_call);
  check_mpi(MPI_Bcast(buf, elements.count(), elements.type(), root, comm_), "broadcast");
}

void MpiCommunicator::barrier() {
  auto watch = watchdog_.watch("barrier", name_, size_);
  check_mpi(MPI_Barrier(comm_), "barrier");
}

// ------------------------------------------------------------ point to point

void MpiCommunicator::send(const void* buf, int64_t count, DType dtype, int peer, int tag) {
  check_count(*this, "send", count);
  check_rank(*this, "send", "peer", peer);
  check_tag("send", tag);
  auto watch = watchdog_.watch("send", name_, size_, peer, tag);
  const MpiElements elements(count, dtype, options_.max_count_per_call);
  check_mpi(MPI_Send(buf, elements.count(), elements.type(), peer, tag, comm_), "send");
}

namespace {

void check_received(const Communicator& comm, const MPI_Status& status,
                    const MpiElements& elements, int64_t count, int peer, int tag) {
  int received = 0;
  MPI_Get_count(&status, elements.type(), &received);
  if (received != elements.count())
    fail(detail::cat("recv from peer ", peer, " (tag ", tag, ") expected ", count,
                     " elements but the message was shorter"),
         where_in(comm), "the sender and receiver must agree on the message size");
}

}  // namespace

void MpiCommunicator::recv(void* buf, int64_t count, DType dtype, int peer, int tag) {
  check_count(*this, "recv", count);
  check_rank(*this, "recv", "peer", peer);
  check_tag("recv", tag);
  auto watch = watchdog_.watch("recv", name_, size_, peer, tag);
  const MpiElements elements(count, dtype, options_.max_count_per_call);
  MPI_Status status;
  check_mpi(MPI_Recv(buf, elements.count(), elements.type(), peer, tag, comm_, &status), "recv");
  check_received(*this, status, elements, count, peer, tag);
}

std::unique_ptr<Request> MpiCommunicator::isend(const void* buf, int64_t count, DType dtype,
                                                int peer, int tag) {
  check_count(*this, "isend", count);
  check_rank(*this, "isend", "peer", peer);
  check_tag("isend", tag);
  auto request = std::make_unique<MpiRequest>(
      false, peer, tag, MpiElements(count, dtype, options_.max_count_per_call));
  check_mpi(MPI_Isend(buf, request->elements.count(), request->elements.type(), peer, tag, comm_,
                      &request->request),
            "isend");
  return request;
}

std::unique_ptr<Request> MpiCommunicator::irecv(void* buf, int64_t count, DType dtype, int peer,
                                                int tag) {
  check_count(*this, "irecv", count);
  check_rank(*this, "irecv", "peer", peer);
  check_tag("irecv", tag);
  auto request = std::make_unique<MpiRequest>(
      true, peer, tag, MpiElements(count, dtype, options_.max_count_per_call));
  check_mpi(MPI_Irecv(buf, request->elements.count(), request->elements.type(), peer, tag, comm_,
                      &request->request),
            "irecv");
  return request;
}

void MpiCommunicator::wait(Request& request) {
  auto* mpi_request = dynamic_cast<MpiRequest*>(&request);
  if (mpi_request == nullptr)
    fail("wait: the request was not made by an MPI communicator", where_in(*this),
         "wait on a request with the communicator that created it");
  if (mpi_request->waited)
    fail(detail::cat("wait: the ", mpi_request->is_receive ? "irecv" : "isend", " (peer ",
                     mpi_request->peer, ", tag ", mpi_request->tag, ") was already waited on"),
         where_in(*this), "wait on each request exactly once");
  auto watch = watchdog_.watch(mpi_request->is_receive ? "wait for irecv" : "wait for isend",
                               name_, size_, mpi_request->peer, mpi_request->tag);
  MPI_Status status;
  const int rc = MPI_Wait(&mpi_request->request, &status);
  mpi_request->waited = true;
  check_mpi(rc, "wait");
  if (mpi_request->is_receive) {
    int received = 0;
    MPI_Get_count(&status, mpi_request->elements.type(), &received);
    if (received != mpi_request->elements.count())
      fail(detail::cat("irecv from peer ", mpi_request->peer, " (tag ", mpi_request->tag,
                       ") got a shorter message than the buffer it was given"),
           where_in(*this), "the sender and receiver must agree on the message size");
  }
}

// --------------------------------------------------------------------- split

std::unique_ptr<Communicator> MpiCommunicator::split(int color, int key, const std::string& name) {
  if (color < 0)
    fail(detail::cat("split into group '", name, "': color ", color, " is negative"),
         where_in(*this), "every rank must join a group: use colors 0 or more");
  MPI_Comm part = MPI_COMM_NULL;
  {
    auto watch = watchdog_.watch("split", name_, size_);
    check_mpi(MPI_Comm_split(comm_, color, key, &part), "split");
  }
  return std::unique_ptr<Communicator>(
      new MpiCommunicator(Adopt{}, part, name, watchdog_, options_));
}

}  // namespace sadari
