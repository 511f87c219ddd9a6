// SelfCommunicator: a real Communicator of size 1 without MPI, so a one-process
// run and single-process unit tests use the same code paths as a cluster run
// (a group of one is never special-cased by callers).
//
// Semantics (what an MPI group of one process would do):
// - Collectives copy send to recv (nothing when they are the same buffer):
//   a sum or max over one rank is the value itself; reduce_scatter, all_gather,
//   all_to_all move block 0; all_to_all_v moves send_counts[0] elements and
//   requires recv_counts[0] to equal it; broadcast requires root 0.
// - Arguments are checked exactly as the MPI backend checks them
//   (comm/communicator_checks.h): negative counts, peers or roots outside the
//   group, reductions of types that cannot be reduced are Errors.
// - send/recv to self (peer 0): a send is copied at once (eager) into the
//   oldest posted irecv with the same tag, or else into a queue; recv and irecv
//   take the oldest queued message with their tag. A receive must match the
//   message size exactly. Since no other process can ever send, a blocking recv
//   with nothing queued, or a wait on an irecv that is still unmatched, would
//   block forever: they throw Error instead.
// - split() returns another SelfCommunicator with the new name.
//
// Thread safety: as Communicator (one thread per communicator).
#pragma once

#include <cstddef>
#include <deque>
#include <vector>

#include "comm/communicator.h"

namespace sadari {

class SelfCommunicator final : public Communicator {
 public:
  // `world_rank` is only reported (error messages); 0 for a one-process run.
  explicit SelfCommunicator(std::string name = "world", int world_rank = 0);
  ~SelfCommunicator() override;

  int rank() const override { return 0; }
  int size() const override { return 1; }
  int world_rank() const override { return world_rank_; }
  const std::string& name() const override { return name_; }
  Device device() const override { return Device::cpu; }

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
  void barrier() override {}

  void send(const void* buf, int64_t count, DType dtype, int peer, int tag) override;
  void recv(void* buf, int64_t count, DType dtype, int peer, int tag) override;
  std::unique_ptr<Request> isend(const void* buf, int64_t count, DType dtype, int peer,
                                 int tag) override;
  std::unique_ptr<Request> irecv(void* buf, int64_t count, DType dtype, int peer,
                                 int tag) override;
  void wait(Request& request) override;

  std::unique_ptr<Communicator> split(int color, int key, const std::string& name) override;

  // Messages sent to self and not yet received (for tests and leak checks).
  size_t queued_messages() const { return queue_.size(); }

 private:
  struct Message {
    int tag;
    std::vector<std::byte> bytes;
  };
  struct PendingReceive;  // an irecv waiting for its send (defined in the .cpp)

  void check_point_to_point(const char* operation, int64_t count, int peer, int tag) const;
  // Delivers `bytes` to the oldest matching posted irecv; false when none.
  bool deliver_to_posted(int tag, const std::byte* bytes, size_t size);
  // Removes and returns the oldest queued message with `tag` into `buf`; false when none.
  bool take_queued(int tag, void* buf, size_t size, const char* operation);

  std::string name_;
  int world_rank_;
  std::deque<Message> queue_;
  std::deque<PendingReceive*> posted_;  // owned by their requests
};

}  // namespace sadari
