// NcclCommunicator: the Communicator (comm/communicator.h) over NCCL, for
// buffers in DEVICE memory of the current CUDA device. Built only with
// -DSADARI_CUDA=ON (SADARI_HAVE_NCCL=1); the CPU build never sees this file.
//
// Status: compiles and links against NCCL 2.28 / CUDA 13; not yet run on GPUs
// with more than one rank (the development machine has none).
//
// Setup (COLLECTIVE over `bootstrap`, a host communicator of the SAME group,
// e.g. the MpiCommunicator of the group, or a SelfCommunicator for one GPU):
// bootstrap rank 0 creates an ncclUniqueId, broadcasts it over `bootstrap`, and
// every rank calls ncclCommInitRank. The caller selects the device first
// (cudaSetDevice, normally by local rank); one device per rank (NCCL rejects
// two ranks of one communicator on one device).
//
// How the contract is met:
// - Blocking: every call enqueues its NCCL work on this communicator's stream
//   and waits for it by polling the stream, so buffers are free on return, as
//   with MPI. While polling it checks ncclCommGetAsyncError (a peer's failure
//   surfaces as an Error instead of a hang) and the call is registered with the
//   Watchdog (comm/watchdog.h), which ends the job if it does not complete.
// - Counts are int64 elements; NCCL's are size_t, so no large-count handling
//   is needed. Data movement (all_gather, all_to_all(v), broadcast, p2p) moves
//   bytes (ncclUint8), so every dtype, fp8 included, is moved bit-exactly.
//   Reductions use NCCL's native types and accept what every backend accepts
//   (f32, f64, i32, i64; comm/communicator_checks.h).
// - all_to_all and all_to_all_v: one ncclSend and one ncclRecv per peer with a
//   non-zero count, fused in ncclGroupStart/End (NCCL's documented way to
//   express an all-to-all). Zero counts are skipped on both sides, which agree
//   because recv_counts[r] on this rank equals send_counts[this] on rank r.
// - reduce_scatter in place (send == recv, result at the start of the buffer):
//   NCCL's in-place layout puts rank r's result at block r, so the result is
//   reduced there and moved to the start with a device copy.
// - Deterministic sums: ncclAllReduce. Each of NCCL's algorithms (ring = reduce-
//   scatter then all-gather; tree = reduce to the root then broadcast; NVLS /
//   CollNet = reduction in the switch) produces each element once and delivers
//   those bits to every rank, and the algorithm is chosen from the sizes and
//   topology alone, so repeated calls on one setup give the same bits.
// - Point to point: NCCL has no tags. isend/irecv are only RECORDED; the first
//   wait() (or any other call on this communicator) issues all recorded ones in
//   one ncclGroupStart/End, so a ring of "irecv; isend; wait; wait" cannot
//   deadlock. Consequently messages between a pair are matched in the order
//   they were posted, whatever their tags: post sends and receives between two
//   ranks in the same order on both. send/recv are isend/irecv plus wait.
// - split(): ncclCommSplit (NCCL >= 2.18), collective over this communicator.
//
// Lifetime: owns its ncclComm_t and its CUDA stream; the Watchdog is borrowed.
// Destroy communicators in the same order on every rank.
// Thread safety: as Communicator (one thread per communicator).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "comm/watchdog.h"

// Opaque handles, so that users of this header need neither nccl.h nor the CUDA
// headers (both typedefs are pointers to these structs).
struct ncclComm;
struct CUstream_st;

namespace sadari {

class NcclCommunicator final : public Communicator {
 public:
  // COLLECTIVE over `bootstrap` (see the header comment). `watchdog` is borrowed.
  NcclCommunicator(Communicator& bootstrap, std::string name, Watchdog& watchdog);
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int world_rank() const override { return world_rank_; }
  const std::string& name() const override { return name_; }
  Device device() const override { return Device::cuda; }

  using Communicator::all_reduce;
  using Communicator::broadcast;

  void all_reduce(const void* send, void* recv, int64_t count, DType dtype, ReduceOp op) override;
  void reduce_scatter(const void* send, void* recv, int64_t recv_count, DType dtype,
                      ReduceOp op) override;
  void all_gather(const void* send, void* recv, int64_t send_count, DType dtype) override;
  void all_to_all(const void* send, void* recv, int64_t count_per_peer, DType dtype) override;
  void all_to_all_v(const void* send, const int64_t* send_counts, const int64_t* send_displs,
                    void* recv, const int64_t* recv_counts, const int64_t* recv_displs,
                    DType dtype) override;
  void broadcast(void* buf, int64_t count, DType dtype, int root) override;
  void barrier() override;

  void send(const void* buf, int64_t count, DType dtype, int peer, int tag) override;
  void recv(void* buf, int64_t count, DType dtype, int peer, int tag) override;
  std::unique_ptr<Request> isend(const void* buf, int64_t count, DType dtype, int peer,
                                 int tag) override;
  std::unique_ptr<Request> irecv(void* buf, int64_t count, DType dtype, int peer,
                                 int tag) override;
  void wait(Request& request) override;

  std::unique_ptr<Communicator> split(int color, int key, const std::string& name) override;

  ncclComm* handle() const { return comm_; }
  CUstream_st* stream() const { return stream_; }

 private:
  class NcclRequest;
  // A recorded isend/irecv, issued by the next issue_pending().
  struct PointToPoint {
    bool is_send;
    void* buf;
    size_t bytes;
    int peer;
    NcclRequest* request;  // unregisters itself if destroyed before it is issued
  };

  // Adopts an initialised communicator (split results).
  NcclCommunicator(ncclComm* comm, std::string name, int world_rank, Watchdog& watchdog);

  void check_nccl(int result, const char* operation) const;
  void check_cuda(int error, const char* operation) const;
  // Throws when an earlier failure aborted the NCCL communicator.
  void check_usable(const char* operation) const;
  // Issues every recorded isend/irecv in one group, in the order posted.
  void issue_pending();
  // Waits for everything enqueued on the stream so far (see "Blocking").
  void synchronize(const char* operation, int peer = -1, int tag = -1);

  ncclComm* comm_ = nullptr;
  CUstream_st* stream_ = nullptr;
  std::string name_;
  Watchdog& watchdog_;
  int rank_ = 0, size_ = 1, world_rank_ = 0;
  int* device_scratch_ = nullptr;  // one int, for barrier()
  std::vector<PointToPoint> pending_;
};

// The version of the NCCL library actually loaded (queried at run time, not the
// header's), "2.28.9", or "?" when NCCL cannot say; for `sadari version`.
std::string nccl_library_version();

}  // namespace sadari
