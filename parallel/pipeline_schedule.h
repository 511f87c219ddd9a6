// Pipeline schedules as data: for every pipeline rank an ordered list of actions
// (compute on a local model chunk, sends and receives between ranks).
//
// A PipelineSchedule is plain data, built by a generator (pipeline_generators.h),
// checked by the validator (pipeline_validator.h), timed by the simulator
// (pipeline_simulator.h) and run by the executor. It knows no tensors and no
// communicator; every call here is local (nothing is collective).
//
// Terms
//   P  ranks of the pipeline (pp), indexed 0..P-1.
//   M  micro-batches per step, indexed 0..M-1.
//   V  model chunks per rank, indexed 0..V-1 ("chunk" = a rank's local piece).
//   stage  a piece of the model in forward order, 0..num_stages()-1; stage 0 owns the
//          embedding, the last stage the final norm, head and loss.
//
// Stage mapping (stage_of(rank, chunk)) per kind:
//   gpipe, one_f_one_b, zb_h1   V = 1, P stages, stage = rank.
//   interleaved_1f1b            V chunks, V*P stages, chunk c of rank r is stage c*P + r
//                               (Megatron's virtual pipeline: a micro-batch passes every
//                               rank V times, going 0..P-1, then 0..P-1 again).
//   dualpipe                    V = 2, P stages (P even). Rank r holds chunk 0 = stage r
//                               and chunk 1 = stage P-1-r, so every stage has two copies:
//                               stage s on rank s (chunk 0) and on rank P-1-s (chunk 1).
//                               Micro-batches 0..M/2-1 flow down 0 -> P-1 through chunk 0;
//                               micro-batches M/2..M-1 flow up P-1 -> 0 through chunk 1.
//                               Both copies of a stage start from the same weights and
//                               the executor sums their weight gradients (ranks s and
//                               P-1-s) before the optimizer step, so the copies stay equal.
//                               This is DeepSeek's DualPipe (DeepSeek-V3 technical report;
//                               github.com/deepseek-ai/DualPipe): two pipelines fed from
//                               both ends, 2x parameters per rank; half_rank = min(r, P-1-r)
//                               decides a rank's step counts, so rank r and P-1-r are
//                               mirror images.
//   dualpipe_v                  V = 2, 2P stages in a V. Rank r holds chunk 0 = stage r and
//                               chunk 1 = stage 2P-1-r. Every micro-batch goes down
//                               0 -> P-1 on chunk 0, turns on rank P-1 (stage P-1 -> stage P
//                               is local, no message), then up P-1 -> 0 on chunk 1; the loss
//                               is on rank 0, chunk 1 (stage 2P-1), the embedding on rank 0,
//                               chunk 0. This is DualPipeV (DualPipe "cut in half" into a V,
//                               by Sea AI Lab, later added to DeepSeek's DualPipe repository):
//                               one copy of the weights, DualPipe's step shape with P ranks
//                               per direction instead of P/2.
//
// Actions and the communication convention
//   Compute actions: forward, backward (full: input and weight gradients),
//   backward_input (B: gradient w.r.t. the chunk's input only) and backward_weight
//   (W: the chunk's weight gradients of that micro-batch; requires its backward_input
//   earlier on the same rank). A micro-batch's chunk runs either one `backward` or one
//   `backward_input` and one `backward_weight`.
//
//   Messages: send_activation / recv_activation carry a forward output to the next
//   stage; send_gradient / recv_gradient carry the gradient w.r.t. a stage's input to
//   the previous stage. Messages between two chunks of the same rank are not actions
//   (the executor hands the tensor over locally).
//     - `chunk` of a send is the sender's chunk that produced the data; `chunk` of a
//       recv is the receiver's chunk that consumes it. `peer` is the other rank and
//       `peer_chunk` the chunk on the other side. So send(rank a, mb m, chunk ca, peer b,
//       peer_chunk cb) matches exactly recv(rank b, mb m, chunk cb, peer a, peer_chunk ca)
//       of the same payload (activation or gradient).
//     - A recv is placed right before the compute action that consumes it; a send
//       right after the compute action that produced it.
//     - Semantics the validator and simulator assume, and the executor must provide:
//       a send never blocks (post it non-blocking, e.g. isend, and complete it later:
//       at the latest at the end of the step); a recv blocks until its matching send
//       was posted (the executor may post the irecv earlier and wait on it at this
//       point). Messages are matched by (source, destination, message_tag), not by order.
//
//   Overlapped pairs (DualPipe, DualPipeV): a compute action with
//   `overlap_with_next = true` runs together with the next compute action of the same
//   rank (a forward of one micro-batch and a backward of another, so that one's
//   all-to-all hides behind the other's compute). The receives both need come before
//   the first; the sends of both come after the second. An executor may run the two
//   one after the other; results are the same. The simulator charges the pair's cost
//   (SimulationCosts::overlapped_f_b) instead of the sum.
#pragma once

#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace sadari {

enum class ScheduleKind { gpipe, one_f_one_b, interleaved_1f1b, zb_h1, dualpipe, dualpipe_v };

// "gpipe", "1f1b", "interleaved", "zb-h1", "dualpipe", "dualpipev".
std::string to_string(ScheduleKind kind);
// Parses the names above; throws Error naming `where` (e.g. "--kind") and the choices.
ScheduleKind parse_schedule_kind(const std::string& name, const std::string& where);

enum class ActionKind {
  forward,
  backward,         // full backward: input and weight gradients
  backward_input,   // B: input gradient only
  backward_weight,  // W: weight gradients only, after this micro-batch's backward_input
  send_activation,
  recv_activation,
  send_gradient,
  recv_gradient,
};

// "F", "B", "Bi", "W", "sendA", "recvA", "sendG", "recvG".
std::string to_string(ActionKind kind);
bool is_compute(ActionKind kind);  // forward / backward / backward_input / backward_weight
bool is_send(ActionKind kind);
bool is_recv(ActionKind kind);

struct Action {
  ActionKind kind = ActionKind::forward;
  int microbatch = 0;
  int chunk = 0;          // this rank's chunk (see the message convention above)
  int peer = -1;          // sends/receives: the other rank; -1 for compute
  int peer_chunk = -1;    // sends/receives: the chunk on the other rank; -1 for compute
  bool overlap_with_next = false;  // compute only: runs overlapped with the next compute

  bool operator==(const Action&) const = default;
};

// Where a micro-batch's stage runs.
struct StageLocation {
  int rank = 0;
  int chunk = 0;
  bool operator==(const StageLocation&) const = default;
};

class PipelineSchedule {
 public:
  PipelineSchedule(ScheduleKind kind, int ranks, int microbatches, int chunks_per_rank);

  ScheduleKind kind() const { return kind_; }
  int ranks() const { return ranks_; }                 // P
  int microbatches() const { return microbatches_; }   // M
  int chunks_per_rank() const { return chunks_; }      // V
  // Stages of the model: P, V*P (interleaved), P (dualpipe: each stage twice), 2P (dualpipe_v).
  int num_stages() const;
  // The model stage that chunk `chunk` of rank `rank` holds (mapping above).
  int stage_of(int rank, int chunk) const;

  // The path of micro-batch `microbatch` through the model: the location of its stage
  // `stage` (0 = embedding ... num_stages()-1 = loss). Differs per micro-batch only for
  // dualpipe (the two directions).
  StageLocation location_of(int microbatch, int stage) const;
  // Where `microbatch`'s forward goes after / came from (rank, chunk); nullopt at the
  // last / first stage.
  std::optional<StageLocation> next_location(int microbatch, StageLocation here) const;
  std::optional<StageLocation> previous_location(int microbatch, StageLocation here) const;
  // Whether `microbatch` passes (rank, chunk) at all (dualpipe: chunk 0 carries only the
  // first half, chunk 1 only the second half; every other kind: always).
  bool runs_microbatch(int rank, int chunk, int microbatch) const;
  bool is_first_stage(int microbatch, StageLocation here) const;  // owns the embedding
  bool is_last_stage(int microbatch, StageLocation here) const;   // computes the loss

  // A message tag unique for each (source, destination) pair within one step:
  // derived from the payload (activation or gradient), the micro-batch and the
  // consumer's stage. Same value on the send and on its matching recv. Fits MPI's
  // guaranteed tag range for M * num_stages() <= 16383.
  int message_tag(int rank, const Action& send_or_recv) const;

  // The ordered action list of each rank (size P).
  const std::vector<Action>& actions(int rank) const;
  std::vector<Action>& mutable_actions(int rank);
  const std::vector<std::vector<Action>>& all_actions() const { return per_rank_; }

 private:
  ScheduleKind kind_;
  int ranks_, microbatches_, chunks_;
  std::vector<std::vector<Action>> per_rank_;
};

// The identity of the message a send or recv action of `rank` carries, the same for a
// send and its matching recv: (source rank, destination rank, is gradient, micro-batch,
// source chunk, destination chunk).
using MessageKey = std::tuple<int, int, bool, int, int, int>;
MessageKey message_key(int rank, const Action& send_or_recv);

// "F3c1" / "sendA3c1->r2c0": one action in words, for errors and listings.
std::string describe(const Action& a);

}  // namespace sadari
