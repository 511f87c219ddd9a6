// MpiCommunicator: the Communicator (comm/communicator.h) over an MPI
// communicator, for buffers in host memory. Every CPU run with more than one
// process uses it; MpiEnvironment (comm/mpi_environment.h) makes the world one.
//
// How the contract is met:
// - Isolation: the constructor duplicates the MPI_Comm it is given, so sadari's
//   messages never match those of another library on the same processes. Errors
//   are returned (MPI_ERRORS_RETURN) and thrown as sadari::Error naming the
//   operation, group and rank.
// - Counts are int64 elements; MPI's are int. A count up to
//   options.max_count_per_call (default INT_MAX) goes to MPI as is. Above it:
//     data movement (all_gather, all_to_all, broadcast, send/recv, isend/irecv)
//       describes the buffer as ONE element of a derived datatype (a struct of
//       contiguous chunks and a remainder) whose extent is the whole buffer;
//     reductions (all_reduce, reduce_scatter) cannot use derived types with
//       MPI's built-in operations, so they are split into chunks of at most
//       max_count_per_call elements (elementwise operations, so chunking does
//       not change a result bit);
//     all_to_all_v is one MPI_Alltoallv whose counts and displacements are in
//       units of one element while they fit, and otherwise in units of their
//       greatest common divisor (a derived datatype): row exchanges, whose
//       counts are multiples of the row width, can be arbitrarily large. Each
//       rank chooses its units alone (MPI matches type signatures, not
//       types), so this costs no extra communication. Values above the limit
//       with too small a common divisor are an Error on the ranks that have
//       them (their peers then wait until main's abort_job or the watchdog ends
//       the job).
// - Deterministic sums: all_reduce is a reduce_scatter (each element reduced on
//   exactly one rank) followed by an all_gather of the reduced pieces, so every
//   rank receives the same bits by construction, whatever algorithm the MPI
//   library picks; the algorithm depends only on sizes, so repeated calls give
//   the same bits. reduce_scatter is MPI_Reduce_scatter_block (above the limit:
//   chunked MPI_Reduce calls, one root after another).
// - Point to point: tags are 0 .. kMaxTag. A receive must match the
//   message size exactly (sadari always knows it); a shorter message is an Error.
// - Hangs: every blocking call (and wait, split) is registered with the
//   Watchdog for its duration; see comm/watchdog.h.
// - Element types: reductions take f32, f64, i32, i64; every type (bf16, fp8
//   included) can be moved.
//
// Lifetime: destroy every MpiCommunicator before MPI is finalized, in the same
// order on every rank (MPI_Comm_free is collective). The Watchdog must outlive it.
// Thread safety: as Communicator (one thread per communicator).
#pragma once

#include <mpi.h>

#include <climits>
#include <cstddef>
#include <vector>

#include "comm/communicator.h"
#include "comm/watchdog.h"

namespace sadari {

struct MpiCommunicatorOptions {
  // Largest element count handed to one MPI call; see the header comment.
  // Tests lower it to exercise the large-count paths with small buffers.
  int64_t max_count_per_call = INT_MAX;
};

class MpiCommunicator final : public Communicator {
 public:
  // The largest tag every MPI implementation accepts (MPI_TAG_UB >= 32767).
  static constexpr int kMaxTag = 32767;

  // COLLECTIVE over `comm`: duplicates it (the duplicate is owned). `watchdog`
  // is borrowed and must outlive this object.
  MpiCommunicator(MPI_Comm comm, std::string name, Watchdog& watchdog,
                  MpiCommunicatorOptions options = {});
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
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
  void barrier() override;

  void send(const void* buf, int64_t count, DType dtype, int peer, int tag) override;
  void recv(void* buf, int64_t count, DType dtype, int peer, int tag) override;
  std::unique_ptr<Request> isend(const void* buf, int64_t count, DType dtype, int peer,
                                 int tag) override;
  std::unique_ptr<Request> irecv(void* buf, int64_t count, DType dtype, int peer,
                                 int tag) override;
  void wait(Request& request) override;

  std::unique_ptr<Communicator> split(int color, int key, const std::string& name) override;

  // The underlying (duplicated) MPI communicator, for code that must talk to
  // MPI directly (the NCCL bootstrap, benchmarks). Owned by this object.
  MPI_Comm handle() const { return comm_; }
  const MpiCommunicatorOptions& options() const { return options_; }

 private:
  struct Adopt {};
  // Takes ownership of `comm` without duplicating it (split results).
  MpiCommunicator(Adopt, MPI_Comm comm, std::string name, Watchdog& watchdog,
                  MpiCommunicatorOptions options);

  void check_mpi(int rc, const char* operation) const;
  void check_tag(const char* operation, int tag) const;
  void all_reduce_chunk(const std::byte* send, std::byte* recv, int count, DType dtype,
                        ReduceOp op);

  MPI_Comm comm_ = MPI_COMM_NULL;
  std::string name_;
  Watchdog& watchdog_;
  MpiCommunicatorOptions options_;
  int rank_ = 0, size_ = 1, world_rank_ = 0;
  // Scratch reused across calls (one thread per communicator).
  std::vector<int> counts_, displs_, counts2_, displs2_;
  std::vector<std::byte> scratch_;
};

}  // namespace sadari
