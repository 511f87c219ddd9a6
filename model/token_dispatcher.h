// Token dispatcher: moves routed tokens to their experts and the expert outputs
// back (Megatron-Core's token dispatcher, reduced to what the MoE layer needs).
//
// The model is one-process math: the MoE layer only talks to this interface.
// LocalTokenDispatcher (below) keeps everything in the process and owns all E
// experts; parallel/ implements the same interface over the expert-parallel group
// (parallel/expert_parallel_dispatcher.h), where this rank holds a few expert
// SLOTS: local_expert_ids()[j] is the logical expert of local slot j. The ids need
// not be contiguous (a placement may replicate hot experts on several ranks), but
// they are distinct: the MoE layer names local slot j's parameters by that id.
//
// Data flow of one MoE layer (n tokens, top-k slots, D hidden), the "pairs" being
// the n*k (token, slot) choices of the router:
//
//   forward
//   1. dispatch(x [n, D], expert [n, k])
//      a. count pairs per global expert           -> state.tokens_per_expert [E]
//      b. permute pairs by expert (stable: for one expert, pairs in token order;
//         a token never selects an expert twice, so this is token order)
//      c. (EP) exchange counts with the ep group; rows for expert e go to the rank
//         that owns e; receive the rows for this rank's local experts
//      d. lay the received rows out grouped by local slot j (for EP: within a
//         slot, by source rank, then in that rank's token order)
//                                                  -> state.rows [R, D],
//                                                     state.local_counts / local_offsets
//   2. the caller runs local slot j's expert on rows [local_offsets[j], local_offsets[j+1])
//      and writes expert_out [R, D] in the same row order
//   3. combine(expert_out, weight [n, k], y [n, D])
//      a. (EP) send each row's output back to the rank of its token
//      b. y_t += sum_k weight_t,k * out(t, k), the k terms added in slot order
//         (one thread per token: the result does not depend on the thread count)
//   backward
//   4. combine_backward(dy [n, D]) -> d_expert_out [R, D], d_weight [n, k]
//      a. d out(t, k) = weight_t,k * dy_t;  d weight_t,k = <dy_t, out(t, k)>
//      b. (EP) send d out(t, k) to the rank holding the expert's row
//   5. the caller runs the experts' backward: d_expert_out -> d_rows [R, D]
//   6. dispatch_backward(d_rows [R, D], dx [n, D])
//      a. (EP) send each row's input gradient back to the rank of its token
//      b. dx_t += sum_k d_row(t, k), in slot order
//
// State: everything a forward leaves for the later steps lives in a DispatchState
// that the caller owns (make_state()), never in the dispatcher, because several
// micro-batches may be in flight at once under pipeline schedules. A state is
// reusable: its buffers grow and are kept.
//
// Wire formats (model/dispatch_wire.h): a dispatcher made with a reduced-precision
// DispatchWire rounds rows exactly as they would be rounded on the wire: the rows
// the experts see (1), the expert outputs combine adds (3) and whose products
// give d weight (4a), the d out rows (4b) and the d_rows summed into dx (6).
//
// Thread-safety: the local dispatcher is stateless and may be called concurrently
// on different states. An EP implementation performs collectives inside dispatch,
// combine, combine_backward and dispatch_backward; these must then be called in
// the same order on every rank of the ep group (the pipeline schedule guarantees it).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "model/dispatch_wire.h"
#include "kernels/exec_context.h"

namespace sadari {

template <typename T>
struct DispatchState {
  virtual ~DispatchState() = default;

  int64_t tokens = 0;  // n of the last dispatch
  int64_t top_k = 0;
  int64_t hidden = 0;  // D
  // Pairs from THIS rank's tokens routed to each global expert (size E): the
  // router load statistics (summed over micro-batches and reduced over dp for
  // the aux-loss-free bias update). Counted as routed, before any capacity drop.
  std::vector<int64_t> tokens_per_expert;
  // Pairs of THIS rank's tokens that were not processed because their expert was
  // over capacity (always 0 for a dropless dispatcher). A dropped pair adds
  // nothing to y and gets a zero gate-weight gradient.
  int64_t dropped_pairs = 0;
  // Rows this rank's local slots process (from all ranks under EP):
  // local_counts[j] rows for local slot j, starting at local_offsets[j];
  // local_offsets has local_experts() + 1 entries, the last being R.
  std::vector<int64_t> local_counts;
  std::vector<int64_t> local_offsets;
  // The expert inputs [R, D], grouped by local expert. Kept for the experts' backward.
  std::vector<T> rows;

  int64_t num_rows() const { return local_offsets.empty() ? 0 : local_offsets.back(); }
};

template <typename T>
class TokenDispatcher {
 public:
  virtual ~TokenDispatcher() = default;

  virtual int64_t experts() const = 0;  // E, global (logical)
  // Logical expert id of each local slot, in slot order: distinct ids in [0, E).
  virtual const std::vector<int64_t>& local_expert_ids() const = 0;
  int64_t local_experts() const { return static_cast<int64_t>(local_expert_ids().size()); }

  // Node-limited routing (DeepSeek-V3; model/router.h): where the experts live
  // decides it, so the dispatcher tells the MoE layer's router. When
  // max_nodes_per_token() > 0, each token's experts must lie on at most that many
  // nodes, expert_nodes()[e] being the node of logical expert e.
  // Default: no limit (everything is in one process).
  virtual int64_t max_nodes_per_token() const { return 0; }
  virtual std::vector<int32_t> expert_nodes() const { return {}; }

  // A fresh state of the type this dispatcher uses.
  virtual std::unique_ptr<DispatchState<T>> make_state() const = 0;

  // Step 1. x: [n, D]; expert: [n, k] global expert ids in [0, E).
  // Fills state (see above). REQUIRES: state from this dispatcher's make_state();
  // a token's k experts are distinct. x need not outlive the call (rows are copied).
  virtual void dispatch(const T* x, const int32_t* expert, int64_t n, int64_t k, int64_t D,
                        DispatchState<T>& state) = 0;

  // Step 3. expert_out: [R, D] in state.rows order; weight: [n, k].
  // ADDS the weighted expert outputs to y: [n, D] (the caller initialises y, e.g.
  // with the shared experts' output). REQUIRES: expert_out and weight stay valid and
  // unchanged until combine_backward (the local dispatcher reads them there).
  virtual void combine(const T* expert_out, const T* weight, T* y, DispatchState<T>& state) = 0;

  // Step 4. dy: [n, D]; expert_out, weight: the buffers given to combine.
  // WRITES d_expert_out: [R, D] and d_weight: [n, k].
  virtual void combine_backward(const T* dy, const T* expert_out, const T* weight,
                                T* d_expert_out, T* d_weight, DispatchState<T>& state) = 0;

  // Step 6. d_rows: [R, D] gradient w.r.t. state.rows. ADDS into dx: [n, D].
  virtual void dispatch_backward(const T* d_rows, T* dx, DispatchState<T>& state) = 0;
};

// In-process dispatcher owning all E experts (local slot j holds expert j).
// Its state adds the permutation between pairs and rows.
template <typename T>
struct LocalDispatchState : DispatchState<T> {
  std::vector<int64_t> row_of_pair;  // [n*k]: pair t*k + slot -> its row in `rows`
  std::vector<int64_t> pair_of_row;  // [n*k]: row -> pair (token = pair / k)
  std::vector<int64_t> cursor;       // [E] scratch for the counting sort
  std::vector<T> wire_out;           // [R, D] expert outputs as combined (reduced wire only)
  std::vector<T> wire_back;          // [R, D] d_rows as summed (reduced wire only)
};

template <typename T>
class LocalTokenDispatcher final : public TokenDispatcher<T> {
 public:
  // wire: the row formats to emulate (default: exact f32). REQUIRES: exact for T = double.
  // ctx: where the permutation and the combine run (kernels/ops.h).
  explicit LocalTokenDispatcher(int64_t experts, DispatchWire wire = {},
                                const ExecContext& ctx = ExecContext::cpu());
  const DispatchWire& wire() const { return wire_; }

  int64_t experts() const override { return experts_; }
  const std::vector<int64_t>& local_expert_ids() const override { return local_ids_; }

  std::unique_ptr<DispatchState<T>> make_state() const override;
  void dispatch(const T* x, const int32_t* expert, int64_t n, int64_t k, int64_t D,
                DispatchState<T>& state) override;
  void combine(const T* expert_out, const T* weight, T* y, DispatchState<T>& state) override;
  void combine_backward(const T* dy, const T* expert_out, const T* weight, T* d_expert_out,
                        T* d_weight, DispatchState<T>& state) override;
  void dispatch_backward(const T* d_rows, T* dx, DispatchState<T>& state) override;

 private:
  LocalDispatchState<T>& local(DispatchState<T>& state) const;
  int64_t experts_;
  std::vector<int64_t> local_ids_;  // 0 .. E-1
  DispatchWire wire_;
  ExecContext ctx_;
};

}  // namespace sadari
