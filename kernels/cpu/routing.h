// The MoE router's arithmetic on the host (model/router.h states the routing
// semantics; these are its loops). Rows are tokens: scores, biased scores and
// masks are [n, E]; selections [n, K]. Every loop runs one thread per token (or
// per sequence) in a fixed order, so results do not depend on the thread count.
#pragma once

#include <cstdint>
#include <vector>

namespace sadari::cpu {

// b = s + bias (bias [E], may be null: b = s).
template <typename T>
void add_expert_bias(const T* s, const T* bias, T* b, int64_t n, int64_t E);

// Group scores gs [n, G] of b grouped into G consecutive groups of E / G:
// the best score of each group, or the sum of its two best when top2.
template <typename T>
void group_scores(const T* b, int64_t n, int64_t E, int64_t G, bool top2, T* gs);

// mask [n, E] = 1 for the experts of each token's kept groups (group_idx [n, KG]).
void groups_to_mask(const int32_t* group_idx, int64_t n, int64_t E, int64_t KG, int64_t gsize,
                    uint8_t* mask);

// Node scores ns [n, N]: per token and node, the sum of the node's q best
// biased affinities (expert_node [E] = node of expert e).
template <typename T>
void node_scores(const T* b, const int32_t* expert_node, int64_t n, int64_t E, int64_t N,
                 int64_t q, T* ns);

// mask [n, E] = 1 for the experts on each token's kept nodes (kept [n, M]).
void nodes_to_mask(const int32_t* kept, const int32_t* expert_node, int64_t n, int64_t E,
                   int64_t M, uint8_t* mask);

// Gate weights of the selected experts ex [n, K] from the unbiased scores s:
// z_t = sum_k s[t, ex] + eps (written to zsum [n]); w = c s / z when normalise,
// else c s.
template <typename T>
void gate_weights(const T* s, const int32_t* ex, int64_t n, int64_t E, int64_t K, bool normalise,
                  T c, T eps, T* w, T* zsum);

// The backward of gate_weights: ds [n, E] = d_scores_extra (or 0) + the gate
// weights' gradient from dw [n, K].
template <typename T>
void gate_weights_backward(const T* dw, const T* d_scores_extra, const T* s, const int32_t* ex,
                           const T* zsum, int64_t n, int64_t E, int64_t K, bool normalise, T c,
                           T* ds);

// Aux-loss-free balancing (DeepSeek-V3): bias[e] += step when expert e got fewer
// than the mean of counts [E], -= step when more (counts summed over the step).
template <typename T>
void update_router_bias(const int64_t* counts, int64_t E, T step, T* bias);

// DeepSeek-V3's sequence-wise auxiliary balance loss (model/router.h has the
// formula): forward returns L and writes f [n/seq, E]; backward ADDS
// scale * dL/ds to d_scores.
template <typename T>
double seq_aux_loss_forward(const T* scores, const int32_t* expert, int64_t n, int64_t seq,
                            int64_t E, int64_t K, double alpha, std::vector<double>& f);
template <typename T>
void seq_aux_loss_backward(const T* scores, const std::vector<double>& f, int64_t n,
                           int64_t seq, int64_t E, double alpha, double scale, T* d_scores);

}  // namespace sadari::cpu
