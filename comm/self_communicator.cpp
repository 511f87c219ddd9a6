#include "comm/self_communicator.h"

#include <algorithm>
#include <cstring>

#include "comm/communicator_checks.h"
#include "core/error.h"

namespace sadari {

namespace {

size_t bytes_of(int64_t count, DType dtype) {
  return static_cast<size_t>(count) * dtype_size(dtype);
}

// memmove: send and recv may be the same buffer (in place), never partially
// overlapping by contract, and memmove is correct in both cases.
void copy(void* to, const void* from, size_t size) {
  if (size != 0 && to != from) std::memmove(to, from, size);
}

}  // namespace

struct SelfCommunicator::PendingReceive final : Request {
  SelfCommunicator* owner = nullptr;  // null once matched, or when the owner is gone
  bool is_receive = false;
  void* buf = nullptr;
  size_t size = 0;
  int tag = 0;
  bool complete = false;
  bool waited = false;

  ~PendingReceive() override {
    if (owner != nullptr && !complete) {
      auto& posted = owner->posted_;
      posted.erase(std::remove(posted.begin(), posted.end(), this), posted.end());
    }
  }
};

SelfCommunicator::SelfCommunicator(std::string name, int world_rank)
    : name_(std::move(name)), world_rank_(world_rank) {}

SelfCommunicator::~SelfCommunicator() {
  for (PendingReceive* pending : posted_) pending->owner = nullptr;
}

void SelfCommunicator::all_reduce(const void* send, void* recv, int64_t count, DType dtype,
                                  ReduceOp) {
  check_count(*this, "all_reduce", count);
  check_reducible(*this, "all_reduce", dtype);
  copy(recv, send, bytes_of(count, dtype));
}

void SelfCommunicator::reduce_scatter(const void* send, void* recv, int64_t recv_count,
                                      DType dtype, ReduceOp) {
  check_count(*this, "reduce_scatter", recv_count);
  check_reducible(*this, "reduce_scatter", dtype);
  copy(recv, send, bytes_of(recv_count, dtype));
}

void SelfCommunicator::all_gather(const void* send, void* recv, int64_t send_count, DType dtype) {
  check_count(*this, "all_gather", send_count);
  copy(recv, send, bytes_of(send_count, dtype));
}

void SelfCommunicator::all_to_all(const void* send, void* recv, int64_t count_per_peer,
                                  DType dtype) {
  check_count(*this, "all_to_all", count_per_peer);
  copy(recv, send, bytes_of(count_per_peer, dtype));
}

void SelfCommunicator::all_to_all_v(const void* send, const int64_t* send_counts,
                                    const int64_t* send_displs, void* recv,
                                    const int64_t* recv_counts, const int64_t* recv_displs,
                                    DType dtype) {
  check_counts_and_displs(*this, "all_to_all_v", send_counts, send_displs, "send");
  check_counts_and_displs(*this, "all_to_all_v", recv_counts, recv_displs, "receive");
  if (send_counts[0] != recv_counts[0])
    fail(detail::cat("all_to_all_v: rank 0 sends ", send_counts[0],
                     " elements to itself but expects to receive ", recv_counts[0]),
         where_in(*this), "recv_counts[r] must equal what rank r sends to this rank");
  copy(static_cast<std::byte*>(recv) + bytes_of(recv_displs[0], dtype),
       static_cast<const std::byte*>(send) + bytes_of(send_displs[0], dtype),
       bytes_of(send_counts[0], dtype));
}

void SelfCommunicator::broadcast(void*, int64_t count, DType, int root) {
  check_count(*this, "broadcast", count);
  check_rank(*this, "broadcast", "root", root);
}

void SelfCommunicator::check_point_to_point(const char* operation, int64_t count, int peer,
                                            int tag) const {
  check_count(*this, operation, count);
  check_rank(*this, operation, "peer", peer);
  if (tag < 0)
    fail(detail::cat(operation, ": negative tag ", tag), where_in(*this),
         "use a small non-negative tag");
}

bool SelfCommunicator::deliver_to_posted(int tag, const std::byte* bytes, size_t size) {
  auto match = std::find_if(posted_.begin(), posted_.end(),
                            [tag](const PendingReceive* p) { return p->tag == tag; });
  if (match == posted_.end()) return false;
  PendingReceive* receive = *match;
  if (receive->size != size)
    fail(detail::cat("send to self (tag ", tag, ") of ", size, " bytes matches an irecv of ",
                     receive->size, " bytes"),
         where_in(*this), "the sender and receiver must agree on the message size");
  copy(receive->buf, bytes, size);
  receive->complete = true;
  posted_.erase(match);
  return true;
}

bool SelfCommunicator::take_queued(int tag, void* buf, size_t size, const char* operation) {
  auto match = std::find_if(queue_.begin(), queue_.end(),
                            [tag](const Message& m) { return m.tag == tag; });
  if (match == queue_.end()) return false;
  if (match->bytes.size() != size)
    fail(detail::cat(operation, " from self (tag ", tag, ") of ", size,
                     " bytes matches a message of ", match->bytes.size(), " bytes"),
         where_in(*this), "the sender and receiver must agree on the message size");
  copy(buf, match->bytes.data(), size);
  queue_.erase(match);
  return true;
}

void SelfCommunicator::send(const void* buf, int64_t count, DType dtype, int peer, int tag) {
  check_point_to_point("send", count, peer, tag);
  const size_t size = bytes_of(count, dtype);
  const auto* bytes = static_cast<const std::byte*>(buf);
  if (deliver_to_posted(tag, bytes, size)) return;
  queue_.push_back(Message{tag, std::vector<std::byte>(bytes, bytes + size)});
}

void SelfCommunicator::recv(void* buf, int64_t count, DType dtype, int peer, int tag) {
  check_point_to_point("recv", count, peer, tag);
  if (!take_queued(tag, buf, bytes_of(count, dtype), "recv"))
    fail(detail::cat("recv from self (tag ", tag, ") has no matching send and would block forever"),
         where_in(*this), "in a group of one, send (or isend) before the matching recv");
}

std::unique_ptr<Request> SelfCommunicator::isend(const void* buf, int64_t count, DType dtype,
                                                 int peer, int tag) {
  send(buf, count, dtype, peer, tag);  // eager: the buffer is free again at once
  auto request = std::make_unique<PendingReceive>();
  request->tag = tag;
  request->complete = true;
  return request;
}

std::unique_ptr<Request> SelfCommunicator::irecv(void* buf, int64_t count, DType dtype, int peer,
                                                 int tag) {
  check_point_to_point("irecv", count, peer, tag);
  auto request = std::make_unique<PendingReceive>();
  request->is_receive = true;
  request->buf = buf;
  request->size = bytes_of(count, dtype);
  request->tag = tag;
  request->complete = take_queued(tag, buf, request->size, "irecv");
  if (!request->complete) {
    request->owner = this;
    posted_.push_back(request.get());
  }
  return request;
}

void SelfCommunicator::wait(Request& request) {
  auto* self_request = dynamic_cast<PendingReceive*>(&request);
  if (self_request == nullptr)
    fail("wait: the request was not made by a SelfCommunicator", where_in(*this),
         "wait on a request with the communicator that created it");
  if (self_request->waited)
    fail(detail::cat("wait: the request (tag ", self_request->tag, ") was already waited on"),
         where_in(*this), "wait on each request exactly once");
  if (!self_request->complete)
    fail(detail::cat("wait on irecv from self (tag ", self_request->tag,
                     ") that no send matches: it would block forever"),
         where_in(*this), "in a group of one, send (or isend) before waiting on the irecv");
  self_request->waited = true;
}

std::unique_ptr<Communicator> SelfCommunicator::split(int color, int, const std::string& name) {
  if (color < 0)
    fail(detail::cat("split into group '", name, "': color ", color, " is negative"),
         where_in(*this), "every rank must join a group: use colors 0 or more");
  return std::make_unique<SelfCommunicator>(name, world_rank_);
}

}  // namespace sadari
