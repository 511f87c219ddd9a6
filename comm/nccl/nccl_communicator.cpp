#include "comm/nccl/nccl_communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "comm/communicator_checks.h"
#include "comm/nccl/nccl_check.h"
#include "core/error.h"

namespace sadari {

namespace {

static_assert(sizeof(ncclUniqueId) % sizeof(int64_t) == 0,
              "the unique id is broadcast as int64 elements");

ncclDataType_t nccl_reduction_type(DType dtype) {
  switch (dtype) {
    case DType::f32: return ncclFloat32;
    case DType::f64: return ncclFloat64;
    case DType::i32: return ncclInt32;
    case DType::i64: return ncclInt64;
    default: break;  // rejected by check_reducible before we get here
  }
  SADARI_ASSERT(false);
}

ncclRedOp_t nccl_op(ReduceOp op) { return op == ReduceOp::sum ? ncclSum : ncclMax; }

size_t bytes_of(int64_t count, DType dtype) {
  return static_cast<size_t>(count) * dtype_size(dtype);
}

const std::byte* at(const void* p, size_t offset) {
  return static_cast<const std::byte*>(p) + offset;
}
std::byte* at(void* p, size_t offset) { return static_cast<std::byte*>(p) + offset; }

}  // namespace

class NcclCommunicator::NcclRequest final : public Request {
 public:
  NcclRequest(NcclCommunicator* owner, bool is_send, int peer, int tag)
      : owner(owner), is_send(is_send), peer(peer), tag(tag) {}
  ~NcclRequest() override {
    if (issued) return;
    // Never issued (no wait was made): forget the recorded transfer, so that
    // the buffer it names is never touched.
    auto& pending = owner->pending_;
    pending.erase(std::remove_if(pending.begin(), pending.end(),
                                 [this](const PointToPoint& p) { return p.request == this; }),
                  pending.end());
  }

  NcclCommunicator* owner;
  const bool is_send;
  const int peer, tag;
  bool issued = false;
  bool waited = false;
};

NcclCommunicator::NcclCommunicator(Communicator& bootstrap, std::string name, Watchdog& watchdog)
    : name_(std::move(name)), watchdog_(watchdog), world_rank_(bootstrap.world_rank()) {
  if (bootstrap.device() != Device::cpu)
    fail("the bootstrap communicator of an NCCL communicator must use host memory",
         where_in(bootstrap), "pass the MPI communicator of the same group");
  rank_ = bootstrap.rank();
  size_ = bootstrap.size();
  ncclUniqueId id;
  std::memset(&id, 0, sizeof(id));
  if (rank_ == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
  bootstrap.broadcast(&id, sizeof(id) / sizeof(int64_t), DType::i64, 0);
  check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  check_cuda(cudaMalloc(reinterpret_cast<void**>(&device_scratch_), sizeof(int)), "cudaMalloc");
  {
    auto watch = watchdog_.watch("ncclCommInitRank", name_, size_);
    check_nccl(ncclCommInitRank(&comm_, size_, id, rank_), "ncclCommInitRank");
  }
}

NcclCommunicator::NcclCommunicator(ncclComm* comm, std::string name, int world_rank,
                                   Watchdog& watchdog)
    : comm_(comm), name_(std::move(name)), watchdog_(watchdog), world_rank_(world_rank) {
  check_nccl(ncclCommUserRank(comm_, &rank_), "ncclCommUserRank");
  check_nccl(ncclCommCount(comm_, &size_), "ncclCommCount");
  check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  check_cuda(cudaMalloc(reinterpret_cast<void**>(&device_scratch_), sizeof(int)), "cudaMalloc");
}

NcclCommunicator::~NcclCommunicator() {
  // Destructors do not throw: release what exists and ignore failures (the
  // process is usually ending when one happens).
  if (comm_ != nullptr) ncclCommDestroy(comm_);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
  if (device_scratch_ != nullptr) cudaFree(device_scratch_);
}

void NcclCommunicator::check_nccl(int result, const char* operation) const {
  if (result == ncclSuccess) return;
  const char* detail_text = comm_ != nullptr ? ncclGetLastError(comm_) : nullptr;
  nccl::throw_nccl_error(operation, result, where_in(*this), detail_text ? detail_text : "");
}

void NcclCommunicator::check_cuda(int error, const char* operation) const {
  if (error == cudaSuccess) return;
  fail(detail::cat(operation, " failed: ", cudaGetErrorString(static_cast<cudaError_t>(error))),
       where_in(*this), "check that a CUDA device is selected and the buffers are device memory");
}

void NcclCommunicator::check_usable(const char* operation) const {
  if (comm_ == nullptr)
    fail(detail::cat(operation, ": the NCCL communicator was aborted after an earlier error"),
         where_in(*this), "the first error reported on this rank is the cause");
}

void NcclCommunicator::synchronize(const char* operation, int peer, int tag) {
  auto watch = watchdog_.watch(operation, name_, size_, peer, tag);
  // Spin briefly (short transfers finish in microseconds), then back off to
  // sleeping so a long wait does not burn a CPU core.
  for (int polls = 0;; ++polls) {
    const cudaError_t state = cudaStreamQuery(stream_);
    if (state == cudaSuccess) return;
    if (state != cudaErrorNotReady) check_cuda(state, operation);
    ncclResult_t async_error = ncclSuccess;
    check_nccl(ncclCommGetAsyncError(comm_, &async_error), "ncclCommGetAsyncError");
    if (async_error != ncclSuccess && async_error != ncclInProgress) {
      const std::string reason = nccl::error_string(async_error);
      ncclCommAbort(comm_);  // frees the device side; the communicator is unusable now
      comm_ = nullptr;
      fail(detail::cat(operation, " failed: NCCL reported ", reason),
           where_in(*this), "a peer rank probably failed: look for its error message");
    }
    if (polls < 2000)
      std::this_thread::yield();
    else
      std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

void NcclCommunicator::issue_pending() {
  if (pending_.empty()) return;
  check_nccl(ncclGroupStart(), "ncclGroupStart");
  for (const PointToPoint& p : pending_) {
    if (p.is_send)
      check_nccl(ncclSend(p.buf, p.bytes, ncclUint8, p.peer, comm_, stream_), "isend");
    else
      check_nccl(ncclRecv(p.buf, p.bytes, ncclUint8, p.peer, comm_, stream_), "irecv");
    p.request->issued = true;
  }
  pending_.clear();
  check_nccl(ncclGroupEnd(), "ncclGroupEnd");
}

// ---------------------------------------------------------------- reductions

void NcclCommunicator::all_reduce(const void* send, void* recv, int64_t count, DType dtype,
                                  ReduceOp op) {
  check_count(*this, "all_reduce", count);
  check_reducible(*this, "all_reduce", dtype);
  check_usable("all_reduce");
  issue_pending();
  check_nccl(ncclAllReduce(send, recv, static_cast<size_t>(count), nccl_reduction_type(dtype),
                           nccl_op(op), comm_, stream_),
             "all_reduce");
  synchronize("all_reduce");
}

void NcclCommunicator::reduce_scatter(const void* send, void* recv, int64_t recv_count,
                                      DType dtype, ReduceOp op) {
  check_count(*this, "reduce_scatter", recv_count);
  check_reducible(*this, "reduce_scatter", dtype);
  check_usable("reduce_scatter");
  issue_pending();
  const size_t block = bytes_of(recv_count, dtype);
  const bool in_place = send == recv;
  // NCCL's in-place layout is recv == send + rank * block; ours puts the
  // result at the start, so reduce into block `rank` and move it.
  void* target = in_place ? at(recv, static_cast<size_t>(rank_) * block) : recv;
  check_nccl(ncclReduceScatter(send, target, static_cast<size_t>(recv_count),
                               nccl_reduction_type(dtype), nccl_op(op), comm_, stream_),
             "reduce_scatter");
  if (in_place && rank_ != 0 && block != 0)
    check_cuda(cudaMemcpyAsync(recv, target, block, cudaMemcpyDeviceToDevice, stream_),
               "reduce_scatter (moving the result)");
  synchronize("reduce_scatter");
}

// ------------------------------------------------------------- data movement

void NcclCommunicator::all_gather(const void* send, void* recv, int64_t send_count, DType dtype) {
  check_count(*this, "all_gather", send_count);
  check_usable("all_gather");
  issue_pending();
  check_nccl(ncclAllGather(send, recv, bytes_of(send_count, dtype), ncclUint8, comm_, stream_),
             "all_gather");
  synchronize("all_gather");
}

void NcclCommunicator::all_to_all(const void* send, void* recv, int64_t count_per_peer,
                                  DType dtype) {
  check_count(*this, "all_to_all", count_per_peer);
  check_usable("all_to_all");
  issue_pending();
  const size_t block = bytes_of(count_per_peer, dtype);
  if (block != 0) {
    check_nccl(ncclGroupStart(), "ncclGroupStart");
    for (int peer = 0; peer < size_; ++peer) {
      const size_t offset = static_cast<size_t>(peer) * block;
      check_nccl(ncclSend(at(send, offset), block, ncclUint8, peer, comm_, stream_), "all_to_all");
      check_nccl(ncclRecv(at(recv, offset), block, ncclUint8, peer, comm_, stream_), "all_to_all");
    }
    check_nccl(ncclGroupEnd(), "ncclGroupEnd");
  }
  synchronize("all_to_all");
}

void NcclCommunicator::all_to_all_v(const void* send, const int64_t* send_counts,
                                    const int64_t* send_displs, void* recv,
                                    const int64_t* recv_counts, const int64_t* recv_displs,
                                    DType dtype) {
  check_counts_and_displs(*this, "all_to_all_v", send_counts, send_displs, "send");
  check_counts_and_displs(*this, "all_to_all_v", recv_counts, recv_displs, "receive");
  check_usable("all_to_all_v");
  issue_pending();
  check_nccl(ncclGroupStart(), "ncclGroupStart");
  for (int peer = 0; peer < size_; ++peer) {
    if (send_counts[peer] > 0)
      check_nccl(ncclSend(at(send, bytes_of(send_displs[peer], dtype)),
                          bytes_of(send_counts[peer], dtype), ncclUint8, peer, comm_, stream_),
                 "all_to_all_v");
    if (recv_counts[peer] > 0)
      check_nccl(ncclRecv(at(recv, bytes_of(recv_displs[peer], dtype)),
                          bytes_of(recv_counts[peer], dtype), ncclUint8, peer, comm_, stream_),
                 "all_to_all_v");
  }
  check_nccl(ncclGroupEnd(), "ncclGroupEnd");
  synchronize("all_to_all_v");
}

void NcclCommunicator::broadcast(void* buf, int64_t count, DType dtype, int root) {
  check_count(*this, "broadcast", count);
  check_rank(*this, "broadcast", "root", root);
  check_usable("broadcast");
  issue_pending();
  check_nccl(ncclBroadcast(buf, buf, bytes_of(count, dtype), ncclUint8, root, comm_, stream_),
             "broadcast");
  synchronize("broadcast");
}

void NcclCommunicator::barrier() {
  check_usable("barrier");
  issue_pending();
  // NCCL has no barrier: a one-element all-reduce completes on a rank only
  // after every rank has contributed.
  check_nccl(ncclAllReduce(device_scratch_, device_scratch_, 1, ncclInt32, ncclSum, comm_,
                           stream_),
             "barrier");
  synchronize("barrier");
}

// ------------------------------------------------------------ point to point

std::unique_ptr<Request> NcclCommunicator::isend(const void* buf, int64_t count, DType dtype,
                                                 int peer, int tag) {
  check_count(*this, "isend", count);
  check_rank(*this, "isend", "peer", peer);
  check_usable("isend");
  auto request = std::make_unique<NcclRequest>(this, true, peer, tag);
  if (count == 0) {
    request->issued = true;  // nothing to move; the peer's receive of 0 is skipped alike
  } else {
    pending_.push_back({true, const_cast<void*>(buf), bytes_of(count, dtype), peer, request.get()});
  }
  return request;
}

std::unique_ptr<Request> NcclCommunicator::irecv(void* buf, int64_t count, DType dtype, int peer,
                                                 int tag) {
  check_count(*this, "irecv", count);
  check_rank(*this, "irecv", "peer", peer);
  check_usable("irecv");
  auto request = std::make_unique<NcclRequest>(this, false, peer, tag);
  if (count == 0) {
    request->issued = true;
  } else {
    pending_.push_back({false, buf, bytes_of(count, dtype), peer, request.get()});
  }
  return request;
}

void NcclCommunicator::wait(Request& request) {
  auto* nccl_request = dynamic_cast<NcclRequest*>(&request);
  if (nccl_request == nullptr || nccl_request->owner != this)
    fail("wait: the request was not made by this NCCL communicator", where_in(*this),
         "wait on a request with the communicator that created it");
  if (nccl_request->waited)
    fail(detail::cat("wait: the ", nccl_request->is_send ? "isend" : "irecv", " (peer ",
                     nccl_request->peer, ", tag ", nccl_request->tag, ") was already waited on"),
         where_in(*this), "wait on each request exactly once");
  check_usable("wait");
  issue_pending();
  nccl_request->waited = true;
  // Waits for everything enqueued so far, which includes this request.
  synchronize(nccl_request->is_send ? "wait for isend" : "wait for irecv", nccl_request->peer,
              nccl_request->tag);
}

void NcclCommunicator::send(const void* buf, int64_t count, DType dtype, int peer, int tag) {
  auto request = isend(buf, count, dtype, peer, tag);
  wait(*request);
}

void NcclCommunicator::recv(void* buf, int64_t count, DType dtype, int peer, int tag) {
  auto request = irecv(buf, count, dtype, peer, tag);
  wait(*request);
}

// --------------------------------------------------------------------- split

std::unique_ptr<Communicator> NcclCommunicator::split(int color, int key,
                                                      const std::string& name) {
  if (color < 0)
    fail(detail::cat("split into group '", name, "': color ", color, " is negative"),
         where_in(*this), "every rank must join a group: use colors 0 or more");
  check_usable("split");
  issue_pending();
  ncclComm_t part = nullptr;
  {
    auto watch = watchdog_.watch("split", name_, size_);
    check_nccl(ncclCommSplit(comm_, color, key, &part, nullptr), "split (ncclCommSplit)");
  }
  return std::unique_ptr<Communicator>(new NcclCommunicator(part, name, world_rank_, watchdog_));
}

std::string nccl_library_version() {
  // Since NCCL 2.9: 10000 * major + 100 * minor + patch.
  int v = 0;
  if (ncclGetVersion(&v) != ncclSuccess) return "?";
  return detail::cat(v / 10000, ".", v / 100 % 100, ".", v % 100);
}

}  // namespace sadari
