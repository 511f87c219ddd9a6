// Communicator: collectives and point-to-point transfers over one process group,
// on contiguous buffers. The one interface the rest of sadari talks to; backends
// are MPI (host memory: what CPU runs use, comm/mpi_communicator.h) and NCCL
// (device memory, SADARI_CUDA builds, comm/nccl/nccl_communicator.h).
//
// Conventions (every backend):
// - Counts are ELEMENTS of `dtype`, never bytes; displacements are elements too.
//   A count of zero is valid everywhere (the call still participates).
// - Collective calls (marked COLLECTIVE) must be made by every rank of the group,
//   in the same order, with matching counts/dtype/op/root. They block until this
//   rank's part is done (the buffers may be reused on return).
// - In-place: all_reduce and broadcast accept send == recv. reduce_scatter and
//   all_gather accept the in-place layouts noted below. Otherwise send and recv
//   must not overlap.
// - Reductions (sum) are deterministic for a given group size: every rank gets
//   the same bits, and repeated calls with the same inputs give the same bits.
//   They are NOT required to equal a serial left-to-right sum.
// - Errors: a failed call throws sadari::Error naming the operation, the group
//   and the rank. A call that does not complete within the group's timeout
//   (see Watchdog in comm/watchdog.h) ends the whole job with a message naming
//   rank and operation: never a silent hang.
//
// Concurrency: one thread per communicator. Two communicators (different
// groups) may be used from different threads. Non-blocking send/recv may be
// outstanding while other calls on the same communicator are made; each Request
// must be waited exactly once.
//
// Ownership: a Communicator owns its backend handle (MPI_Comm, ncclComm_t) and
// frees it in its destructor. Groups made by split() are independent objects.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace sadari {

enum class ReduceOp { sum, max };

// Handle for a non-blocking send or receive; wait on it with Communicator::wait.
class Request {
 public:
  virtual ~Request() = default;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;  // in this group, 0 .. size()-1
  virtual int size() const = 0;
  // The rank of this process in the world group (for error messages).
  virtual int world_rank() const = 0;
  // A short name for messages: "world", "dp", "ep", "edp", "pp".
  virtual const std::string& name() const = 0;
  virtual Device device() const = 0;  // where buffers must live (cpu: host memory)

  // COLLECTIVE. recv[i] = op over ranks of send[i], i < count. send may equal recv.
  virtual void all_reduce(const void* send, void* recv, int64_t count, DType dtype,
                          ReduceOp op) = 0;
  // COLLECTIVE. send holds size() blocks of recv_count elements; rank r receives
  // in recv the op over ranks of block r. In place: send == recv, rank r's block
  // then lands at the start of the buffer.
  virtual void reduce_scatter(const void* send, void* recv, int64_t recv_count, DType dtype,
                              ReduceOp op) = 0;
  // COLLECTIVE. recv (size() * send_count elements) gets rank r's send at block r.
  // In place: send == recv + rank() * send_count.
  virtual void all_gather(const void* send, void* recv, int64_t send_count, DType dtype) = 0;
  // COLLECTIVE. Block r of send (count_per_peer elements) goes to rank r; block r
  // of recv comes from rank r.
  virtual void all_to_all(const void* send, void* recv, int64_t count_per_peer, DType dtype) = 0;
  // COLLECTIVE. send_counts[r] elements from send + send_displs[r] go to rank r;
  // recv_counts[r] elements from rank r land at recv + recv_displs[r]. Each array
  // has size() entries; recv_counts must equal what the peers send (exchange
  // counts first with all_to_all when they are not known).
  virtual void all_to_all_v(const void* send, const int64_t* send_counts,
                            const int64_t* send_displs, void* recv, const int64_t* recv_counts,
                            const int64_t* recv_displs, DType dtype) = 0;
  // COLLECTIVE. buf on root is copied to every rank's buf.
  virtual void broadcast(void* buf, int64_t count, DType dtype, int root) = 0;
  // COLLECTIVE.
  virtual void barrier() = 0;

  // Point to point (not collective). A send matches the receive on `peer` with the
  // same tag; messages between one pair with one tag arrive in order.
  virtual void send(const void* buf, int64_t count, DType dtype, int peer, int tag) = 0;
  virtual void recv(void* buf, int64_t count, DType dtype, int peer, int tag) = 0;
  // Non-blocking variants: the buffer must stay valid (and, for isend, unchanged)
  // until wait() on the returned request returns.
  virtual std::unique_ptr<Request> isend(const void* buf, int64_t count, DType dtype, int peer,
                                         int tag) = 0;
  virtual std::unique_ptr<Request> irecv(void* buf, int64_t count, DType dtype, int peer,
                                         int tag) = 0;
  virtual void wait(Request& request) = 0;

  // COLLECTIVE over this group. Ranks with the same color form a new group, ordered
  // by key (ties by rank in this group); `name` names the new group in messages.
  virtual std::unique_ptr<Communicator> split(int color, int key, const std::string& name) = 0;

  // Typed conveniences.
  template <typename T>
  void all_reduce(T* buf, int64_t count, ReduceOp op) {
    all_reduce(buf, buf, count, dtype_of<T>::value, op);
  }
  template <typename T>
  void broadcast(T* buf, int64_t count, int root) {
    broadcast(buf, count, dtype_of<T>::value, root);
  }
};

}  // namespace sadari
