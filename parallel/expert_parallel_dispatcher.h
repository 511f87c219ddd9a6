// Expert-parallel token dispatcher: the TokenDispatcher (model/token_dispatcher.h)
// over the ep group. Each ep rank routes its own tokens; a (token, slot) pair
// routed to logical expert e travels to the rank holding e (one of its replicas,
// ExpertPlacement::replica_for), is processed there, and its output travels back.
//
// Data flow (n tokens on this rank, k slots, D hidden; "pairs" = the n*k choices):
//   dispatch
//     a. count pairs per global expert             -> state.tokens_per_expert
//     b. (capacity_factor > 0) all_gather every rank's per-expert counts and token
//        count; keep the first C pairs of each expert in (source rank, token)
//        order, drop the rest                       -> state.dropped_pairs
//     c. sort this rank's kept pairs by destination (rank, slot), then token order,
//        and pack their rows                        -> send buffer
//     d. all_to_all the per-(rank, slot) row counts; all_to_all_v the rows
//     e. lay the received rows out by local slot, then source rank, then the
//        source's token order                       -> state.rows, local_counts/offsets
//   combine: reorder expert_out to arrival order, all_to_all_v it back; each
//     source adds sum_k w_t,k * out(t, k) to y_t, in slot order (dropped pairs
//     contribute nothing). The returned outputs are kept in the state for combine_backward.
//   combine_backward: d out(t, k) = w_t,k dy_t and d w_t,k = <dy_t, out(t, k)> on
//     the source (0 for dropped pairs); all_to_all_v to the experts; reorder to rows.
//   dispatch_backward: reorder d_rows to arrival order; all_to_all_v back; each
//     source adds sum_k d_row(t, k) to dx_t, in slot order.
// Wire formats (model/dispatch_wire.h, the constructor's `wire`): each transfer
// packs its rows into records of its format (dispatch: wire.dispatch, e.g. FP8 codes
// with their 1x128 scales; combine: wire.combine, e.g. BF16; both backward
// transfers: wire.backward), moves them as 32-bit words and unpacks them at the
// other end. The local dispatcher made with the same wire rounds identically, so
// the arithmetic does not depend on the layout.
// With one rank (SelfCommunicator, identity placement, dropless) every step does
// exactly the arithmetic of LocalTokenDispatcher, in the same order: bit-identical.
//
// Capacity (options.capacity_factor = f > 0; 0 = dropless, the default):
//   C = ceil(f * N * k / E) pairs per LOGICAL expert, N = tokens summed over the
//   ep group in this dispatch. Priority: a pair of expert e is kept when fewer than
//   C pairs of e come before it in the order (source ep rank, token index) -- the
//   latest tokens of the highest ranks are dropped first. The decision depends
//   only on routing, never on the placement (replicas share the expert's C) or on
//   timing. state.dropped_pairs counts this rank's dropped pairs (the trainer
//   reads it per layer as MoELayer::dropped_pairs(cache)); tokens_per_expert counts routed pairs BEFORE dropping (the
//   router's load, what the balancing bias needs).
//
// Node-limited routing (options.max_nodes_per_token = M > 0): the dispatcher
//   reports each logical expert's node to the MoE layer's router
//   (expert_nodes(), model/router.h), which then picks each token's experts on
//   at most M nodes. Node of ep rank r = (world rank of r) / ranks_per_node; the
//   ep group is consecutive world ranks (comm/process_groups.h), so rank r's
//   world rank is world_rank() - rank() + r. Nodes are numbered from the group's
//   first node. All replicas of an expert must be on one node.
//
// Collectives: dispatch (2 or 3: [all_gather,] all_to_all, all_to_all_v), combine,
// combine_backward and dispatch_backward (one all_to_all_v each) are COLLECTIVE
// over the ep group: every ep rank calls them in the same order (the pipeline
// schedule guarantees it), each with its own tokens (n may differ between ranks,
// k and D may not).
// Ownership: the communicator is borrowed and must outlive the dispatcher; the
// placement and options are copied. All per-call state is in the caller-owned
// state (several micro-batches may be in flight); the dispatcher is immutable.
// Thread-safety: as the communicator (one thread at a time).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "comm/communicator.h"
#include "core/config.h"
#include "model/token_dispatcher.h"
#include "parallel/expert_placement.h"
#include "kernels/exec_context.h"

namespace sadari {

// Per-dispatch state: the routing of this rank's pairs and the arrival order of
// the rows this rank's experts process.
template <typename T>
struct ExpertParallelDispatchState : DispatchState<T> {
  // Source side: this rank's pairs.
  std::vector<int64_t> send_pos_of_pair;  // [n*k]: pair -> row in the send order, -1 = dropped
  std::vector<int64_t> send_rows;         // [ep] rows sent to each rank
  std::vector<int64_t> send_row_displs;   // [ep]
  std::vector<T> send_buf;                // [S, D] rows in send order (reused per phase)
  std::vector<T> returned_out;            // [S, D] expert outputs back from combine
  // Expert side: rows from all sources.
  std::vector<int64_t> recv_rows;        // [ep] rows received from each rank
  std::vector<int64_t> recv_row_displs;  // [ep]
  std::vector<int64_t> row_of_arrival;   // [R]: arrival position -> row in `rows`
  std::vector<T> arrival_buf;            // [R, D] staging in arrival order
  // Scratch.
  std::vector<int64_t> slot_counts_out;  // [ep * slots]: my rows per (rank, slot)
  std::vector<int64_t> slot_counts_in;   // [ep * slots]: rows per (source, my slot)
  std::vector<int64_t> all_counts;       // [ep * (E + 1)] gathered counts (capacity only)
  std::vector<int64_t> keep_left;        // [E] pairs of each expert this rank may still send
  std::vector<int64_t> cursor;           // counting-sort cursors
  std::vector<int64_t> send_elems, send_elem_displs, recv_elems, recv_elem_displs;  // x D
  std::vector<uint32_t> wire_send, wire_recv;  // packed records (reduced wire formats only)
};

template <typename T>
class ExpertParallelDispatcher final : public TokenDispatcher<T> {
 public:
  // ep_group: the ep group's communicator (borrowed; consecutive world ranks, as
  // make_process_groups builds it). placement.ranks() must equal ep_group.size().
  // Reads options.capacity_factor (>= 0; 0 = dropless) and, when
  // options.max_nodes_per_token > 0, options.ranks_per_node (must be resolved to
  // > 0 by the caller, e.g. from the launcher's local size). Not collective.
  // Throws Error naming the config key or the placement problem.
  // wire: the row formats on the wire (default exact f32; REQUIRES exact for T = double).
  // ctx: where the row permutations and the combine run (kernels/ops.h).
  ExpertParallelDispatcher(Communicator& ep_group, ExpertPlacement placement,
                           const ParallelConfig& options, DispatchWire wire = {},
                           const ExecContext& ctx = ExecContext::cpu());

  int64_t experts() const override { return placement_.experts(); }
  const std::vector<int64_t>& local_expert_ids() const override { return local_ids_; }
  int64_t max_nodes_per_token() const override { return max_nodes_; }
  std::vector<int32_t> expert_nodes() const override { return expert_node_; }
  const ExpertPlacement& placement() const { return placement_; }
  const DispatchWire& wire() const { return wire_; }
  double capacity_factor() const { return capacity_factor_; }

  std::unique_ptr<DispatchState<T>> make_state() const override;
  void dispatch(const T* x, const int32_t* expert, int64_t n, int64_t k, int64_t D,
                DispatchState<T>& state) override;
  void combine(const T* expert_out, const T* weight, T* y, DispatchState<T>& state) override;
  void combine_backward(const T* dy, const T* expert_out, const T* weight, T* d_expert_out,
                        T* d_weight, DispatchState<T>& state) override;
  void dispatch_backward(const T* d_rows, T* dx, DispatchState<T>& state) override;

 private:
  ExpertParallelDispatchState<T>& own(DispatchState<T>& state) const;
  // own(), and REQUIRES a dispatch on the state before `step`.
  ExpertParallelDispatchState<T>& dispatched(DispatchState<T>& state, const char* step) const;
  // Sets the element counts/displacements (rows x D) for a transfer from the
  // source side (forward = true) or back to it.
  // Rows travel in `format` (f32: as they are).
  void exchange(const T* send, T* recv, bool to_experts, WireFormat format,
                ExpertParallelDispatchState<T>& s) const;
  // Per-expert number of this rank's pairs that fit the capacity (capacity only).
  void apply_capacity(int64_t n, int64_t k, ExpertParallelDispatchState<T>& s) const;

  Communicator* comm_;
  ExpertPlacement placement_;
  double capacity_factor_;
  DispatchWire wire_;
  ExecContext ctx_;
  std::vector<int64_t> local_ids_;
  int64_t max_nodes_ = 0;             // 0: no node limit
  std::vector<int32_t> expert_node_;  // [E] when max_nodes_ > 0
};

}  // namespace sadari
