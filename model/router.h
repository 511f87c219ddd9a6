// MoE router (DeepSeek-V3): scores, top-k selection, gate weights, and the
// sequence-wise auxiliary balance loss. Everything here is math on buffers; the
// router parameters (weight [E, D], balancing bias [E]) are owned by the MoE
// layer, which computes logits = x W^T with one GEMM and hands them to route().
//
// Forward, per token t (E experts, K = top_k):
//   s_t      = softmax(logits_t) | sigmoid(logits_t)                   [E]
//   b_t      = s_t + bias        (the aux-loss-free balancing bias: used for
//                                 SELECTION ONLY, never in the weights)
//   groups   (n_groups > 1): experts split into n_groups contiguous groups;
//            group score = sum of the two largest b_t in the group for sigmoid
//            (DeepSeek-V3) and the largest for softmax (DeepSeek-V2); only the
//            topk_groups best groups stay candidates (ties: lower group index).
//            A group of one expert scores that one expert.
//   nodes    (node-limited routing, max_nodes = M > 0 with expert_node set by the
//            expert-parallel dispatcher, DeepSeek-V3): node score = sum of the
//            q = max(1, K / M) largest b_t among the node's experts (all of them
//            when it has fewer); only the M best nodes stay candidates (ties:
//            lower node index), so a token's rows travel to at most M nodes.
//            Off (routing unchanged) when M = 0 or M >= the number of nodes.
//            Group- and node-limited routing are two forms of one limit (in
//            DeepSeek-V3 the groups are the nodes); only one may be on.
//   experts  = the K largest b_t among the candidates, in descending order of b_t
//              (ties: lower expert index, the topk kernel's rule).
//   w_t,k    = c * s_t[e_k] / (sum_j s_t[e_j] + 1e-20)  if norm_topk_prob and K > 1
//            = c * s_t[e_k]                              otherwise,
//              c = routed_scaling_factor.
//   (K == 1 is not normalised, as in the DeepSeek reference code: normalising one
//    weight gives the constant c and would cut the router off from the loss.)
// Backward: the selection is piecewise constant and the bias has no gradient, so
// d logits comes only through the gate weights (and the aux loss) into s.
//
// Thread-safety: Router is immutable after construction; concurrent calls on
// different caches are fine. All loops over tokens use OpenMP and every output
// element is computed by one thread in a fixed order, so results do not depend
// on the thread count.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"
#include "kernels/exec_context.h"

namespace sadari {

enum class ScoreFunc { softmax, sigmoid };

struct RouterOptions {
  int64_t experts = 8;
  int64_t top_k = 2;
  ScoreFunc score_func = ScoreFunc::softmax;
  int64_t n_groups = 1;
  int64_t topk_groups = 1;
  bool norm_topk_prob = true;
  double routed_scaling_factor = 1.0;
  // Node-limited routing: expert_node[e] = node (0-based) holding expert e, size E,
  // and max_nodes = M (0 = off). Set from the token dispatcher (which knows where
  // experts live), never from the model config.
  std::vector<int32_t> expert_node;
  int64_t max_nodes = 0;

  // Reads model.experts, top_k, score_func, n_groups, topk_groups,
  // norm_topk_prob, routed_scaling_factor and validates them (node limit off).
  static RouterOptions from(const ModelConfig& cfg);
  // Throws Error naming the model.* key when the options cannot route:
  // experts % n_groups != 0, topk_groups outside [1, n_groups], top_k outside
  // [1, topk_groups * experts / n_groups], node limit with a bad expert_node
  // or fewer than top_k experts on the M smallest nodes (names
  // parallel.max_nodes_per_token), ...
  void validate() const;
  // Nodes in expert_node (max + 1; 1 when empty), and whether the limit is active.
  int64_t nodes() const;
  bool node_limited() const { return max_nodes > 0 && max_nodes < nodes(); }
};

// Per-forward router state; caller-owned, reused across calls (buffers only grow).
template <typename T>
struct RouterCache {
  int64_t n = 0;                  // tokens of the last route()
  std::vector<T> logits;          // [n, E] filled by the caller (MoE layer GEMM) or route_logits()
  std::vector<T> scores;          // [n, E] s: softmax / sigmoid of the logits
  std::vector<int32_t> expert;    // [n, K] selected expert ids, best first
  std::vector<T> weight;          // [n, K] gate weights (scaled, normalised)
  std::vector<T> selected_sum;    // [n] normaliser sum_k s[e_k] + 1e-20 (when normalising)
  // Scratch (kept to avoid reallocation).
  std::vector<T> biased;          // [n, E] s + bias
  std::vector<T> top_val;         // [n, max(K, topk_groups)]
  std::vector<T> group_score;     // [n, n_groups] (or [n, nodes])
  std::vector<int32_t> group_idx; // [n, topk_groups] (or [n, max_nodes])
  std::vector<uint8_t> mask;      // [n, E] 1 = expert in a kept group / node
  std::vector<T> d_scores;        // [n, E] backward scratch
};

template <typename T>
class Router {
 public:
  // ctx: where the scores, their activations and the top-k run (kernels/ops.h).
  explicit Router(const RouterOptions& opts, const ExecContext& ctx = ExecContext::cpu());
  const RouterOptions& options() const { return opts_; }

  // Routes n tokens whose logits are already in cache.logits[0, n*E).
  // bias: [E] selection bias, or nullptr for none.
  // Fills cache.scores, expert, weight, selected_sum; sets cache.n = n.
  void route(const T* bias, int64_t n, RouterCache<T>& cache) const;

  // Convenience for tests and callers holding logits elsewhere: copies
  // logits [n, E] into the cache, then route().
  void route_logits(const T* logits, const T* bias, int64_t n, RouterCache<T>& cache) const;

  // d_weight: [n, K] gradient of the loss w.r.t. the gate weights.
  // d_scores_extra: [n, E] additional gradient w.r.t. the scores s (the aux
  // loss), or nullptr. WRITES d_logits: [n, E]. REQUIRES: cache from route().
  void backward(const T* d_weight, const T* d_scores_extra, RouterCache<T>& cache,
                T* d_logits) const;

 private:
  // Node-limited routing: fills cache.mask with each token's allowed experts.
  const uint8_t* node_mask(const T* biased, int64_t n, RouterCache<T>& cache) const;

  RouterOptions opts_;
  ExecContext ctx_;
};

// Sequence-wise auxiliary balance loss (DeepSeek-V3, eq. 17-20), per sequence of
// T tokens (the n tokens are n / T sequences, in order):
//   f_i = E / (K T) * #{t in seq : expert i selected for t}
//   P_i = 1/T * sum_t s'_t,i,   s'_t,i = s_t,i / sum_j s_t,j
//   L   = alpha * mean over sequences of sum_i f_i P_i.
// f is a count: the gradient flows through P only.
//
// forward returns L and writes f: [n/T, E] (kept for backward).
// backward ADDS scale * dL/ds to d_scores: [n, E].
// REQUIRES: n % seq == 0, seq > 0. Deterministic (per-sequence sums are serial,
// in double; sequences run in parallel).
// The arithmetic runs on ctx (kernels/ops.h).
template <typename T>
double seq_aux_loss_forward(const T* scores, const int32_t* expert, int64_t n, int64_t seq,
                            int64_t E, int64_t K, double alpha, std::vector<double>& f,
                            const ExecContext& ctx = ExecContext::cpu());
template <typename T>
void seq_aux_loss_backward(const T* scores, const std::vector<double>& f, int64_t n,
                           int64_t seq, int64_t E, double alpha, double scale, T* d_scores,
                           const ExecContext& ctx = ExecContext::cpu());

}  // namespace sadari
