// Mixture-of-Experts feed-forward layer (DeepSeek-V3): router, routed SwiGLU
// experts reached through a TokenDispatcher, fused shared experts, the
// sequence-wise auxiliary loss and the aux-loss-free balancing bias.
//
//   logits = x W_r^T                          router GEMM [n, E]
//   route  (model/router.h)                   experts [n, K], gate weights [n, K]
//   dispatch                                  rows grouped by local expert
//   expert j: SwiGLU on its contiguous rows   one GEMM pair per expert
//   y = shared(x) + combine(sum_k w_k out_k)
//
// Parameters (global names, identical in every parallel layout; l = layer):
//   blocks.{l}.moe.router.weight      [E, D]   normal(init_std), decay, trainable
//   blocks.{l}.moe.router.bias        [E]      zeros, no decay, NOT trainable: moved
//                                              only by update_bias()
//   blocks.{l}.moe.experts.{e}.gate_up [2F, D] normal, expert_id e   (local slots' experts only)
//   blocks.{l}.moe.experts.{e}.down    [D, F]  normal, expert_id e
//   blocks.{l}.moe.shared.gate_up     [2S, D]  normal   (when shared_experts > 0;
//   blocks.{l}.moe.shared.down        [D, S]   normal    S = shared_experts * F)
// F = moe_ffn_hidden, E = experts. Routed experts carry their logical id in the
// name, so their initial values do not depend on which rank holds them: local
// slot j of the dispatcher holds expert e = dispatcher.local_expert_ids()[j].
//
// Ownership: parameters live in the ParameterStore (raw pointers kept here). The
// dispatcher is borrowed when given (REQUIRES: it outlives the layer), otherwise a
// LocalTokenDispatcher is created and owned.
// Thread-safety: forward/backward are const and keep all per-call state in the
// caller's Cache; concurrent calls on different caches are safe with the local
// dispatcher. update_bias mutates the bias parameter: call it between steps only.
// Determinism: results are bitwise independent of the OpenMP thread count
// (given a GEMM that is; OpenBLAS does not split the reduction dimension).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/config.h"
#include "core/parameter.h"
#include "model/router.h"
#include "model/token_dispatcher.h"
#include "model/weight_grad_tape.h"

namespace sadari {

template <typename T>
class MoELayer {
 public:
  // REQUIRES: params.dtype() matches T; dispatcher (if given) routes over
  // cfg.experts experts. Throws Error for invalid routing options (names the key).
  // precision: the experts' and shared experts' GEMMs (model/compute_precision.h;
  // the router stays in T); the owned local dispatcher then emulates the matching
  // wire formats (DispatchWire::for_precision). A given dispatcher brings its own.
  MoELayer(const ModelConfig& cfg, int64_t layer, ParameterStore& params, uint64_t seed,
           TokenDispatcher<T>* dispatcher = nullptr,
           ComputePrecision precision = ComputePrecision::f32,
           const ExecContext& ctx = ExecContext::cpu());
  MoELayer(MoELayer&&) = default;
  MoELayer& operator=(MoELayer&&) = default;

  // Everything backward needs from one forward. Caller-owned; one per micro-batch
  // in flight; reusable across calls (buffers only grow, so steady-state calls
  // allocate nothing).
  struct Cache {
    const T* x = nullptr;  // the forward input (borrowed, see forward())
    int64_t n = 0;
    int64_t seq = 0;
    double aux_loss = 0.0;
    RouterCache<T> router;                       // scores, selection, weights
    std::unique_ptr<DispatchState<T>> dispatch;  // rows and permutation; made on first use
    std::vector<double> aux_f;                   // [n/seq, E] aux-loss f per sequence
    std::vector<T> expert_out;                   // [R, D] routed expert outputs
    std::vector<T> expert_act;                   // [R, 2F] gate/up activations
    std::vector<T> expert_h;                     // [R, F]
    std::vector<T> shared_act;                   // [n, 2S]
    std::vector<T> shared_h;                     // [n, S]
    // Backward scratch.
    std::vector<T> d_weight;      // [n, K]
    std::vector<T> d_expert_out;  // [R, D]
    std::vector<T> d_rows;        // [R, D]
    std::vector<T> d_aux_scores;  // [n, E]
    std::vector<T> d_logits;      // [n, E]
    std::vector<T> scratch;       // SwiGLU backward scratch
  };

  // x: [n, D], n = batch * seq tokens, each sequence's rows contiguous and in
  // order (seq matters only for the aux loss). WRITES y: [n, D]. Returns the aux
  // loss (alpha-weighted, averaged over the micro-batch's sequences; 0 when
  // aux_loss_alpha == 0).
  // REQUIRES: seq > 0, n % seq == 0; y does not overlap x; x stays valid and
  // unchanged until backward() on this cache has run (it is read there, not copied).
  double forward(const T* x, T* y, int64_t n, int64_t seq, Cache& cache) const;

  // dy: [n, D]. WRITES dx: [n, D]; ACCUMULATES (+=) the parameter gradients.
  // aux_grad_scale: the factor with which this micro-batch's aux loss enters the
  // total loss (e.g. micro_batch / global_batch). REQUIRES: cache from forward().
  // tape: where the experts' and the router's weight-gradient products go
  // (nullptr: computed now).
  void backward(const T* dy, T* dx, Cache& cache, T aux_grad_scale,
                WeightGradTape<T>* tape = nullptr) const;

  // Tokens routed to each expert (size E) by the last forward on this cache:
  // the load statistics the trainer sums over micro-batches for update_bias().
  const std::vector<int64_t>& expert_counts(const Cache& cache) const;

  // Pairs of this rank's tokens the dispatcher dropped (expert over capacity) in
  // the last forward on this cache; always 0 with a dropless dispatcher.
  int64_t dropped_pairs(const Cache& cache) const;

  // Aux-loss-free balancing (DeepSeek-V3): b_i += gamma * sign(mean - count_i),
  // counts: [E] tokens per expert over a step, gamma = bias_update_speed.
  // Overloaded experts are made less attractive for selection, underloaded ones
  // more; the gate weights are unaffected.
  void update_bias(const int64_t* counts);

  // Moves the layer onto another dispatcher with the same number of local slots
  // (an expert placement changed: online rebalancing, parallel/expert_migration.h).
  // Local slot j's parameters are renamed to the new logical expert
  // (blocks.{l}.moe.experts.{e}.*, expert_id e); their VALUES are left alone: the
  // caller moves the weights. Node-limited routing takes the new expert nodes.
  // REQUIRES: d routes over the same experts, outlives the layer, and no cache
  // holds a dispatch of the old dispatcher that is still to be combined or
  // backpropagated (call between steps; drop old caches' dispatch states).
  void set_dispatcher(TokenDispatcher<T>& d);

  int64_t layer() const { return layer_; }
  const RouterOptions& router_options() const { return router_.options(); }
  TokenDispatcher<T>& dispatcher() const { return *dispatcher_; }
  Parameter* router_weight() const { return router_weight_; }
  Parameter* router_bias() const { return router_bias_; }
  int64_t local_experts() const { return static_cast<int64_t>(expert_gate_up_.size()); }
  // Logical expert id of local slot j.
  int64_t local_expert_id(int64_t j) const { return dispatcher_->local_expert_ids()[j]; }
  // Local slot j's expert (logical id local_expert_id(j)): gate_up and down.
  Parameter* expert_gate_up(int64_t j) const { return expert_gate_up_[j]; }
  Parameter* expert_down(int64_t j) const { return expert_down_[j]; }
  Parameter* shared_gate_up() const { return shared_gate_up_; }  // nullptr without shared experts
  Parameter* shared_down() const { return shared_down_; }

 private:
  int64_t layer_;
  int64_t D_, E_, K_, F_, S_;
  double aux_alpha_;
  double bias_speed_;
  // The router projection stays in full precision (DeepSeek-V3's recipe).
  LinearNumerics router_numerics() const {
    return {ComputePrecision::f32, router_weight_->name, ctx_};
  }

  ComputePrecision precision_;
  ExecContext ctx_;  // where the router's and the experts' kernels run
  Router<T> router_;
  std::unique_ptr<TokenDispatcher<T>> owned_dispatcher_;
  TokenDispatcher<T>* dispatcher_;
  Parameter* router_weight_ = nullptr;
  Parameter* router_bias_ = nullptr;
  std::vector<Parameter*> expert_gate_up_, expert_down_;  // local experts, in order
  Parameter* shared_gate_up_ = nullptr;
  Parameter* shared_down_ = nullptr;
};

}  // namespace sadari
