#include "model/router.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "core/grow.h"
#include "kernels/ops.h"

namespace sadari {

namespace {

// Added to the normaliser so a row whose selected sigmoid scores all underflow
// to 0 gives zero weights instead of NaN (DeepSeek's reference code does the same).
constexpr double kNormEps = 1e-20;

}  // namespace

RouterOptions RouterOptions::from(const ModelConfig& cfg) {
  RouterOptions o;
  o.experts = cfg.experts;
  o.top_k = cfg.top_k;
  if (cfg.score_func == "softmax") {
    o.score_func = ScoreFunc::softmax;
  } else if (cfg.score_func == "sigmoid") {
    o.score_func = ScoreFunc::sigmoid;
  } else {
    fail("unknown score function '" + cfg.score_func + "'", "model.score_func",
         "use softmax or sigmoid");
  }
  o.n_groups = cfg.n_groups;
  o.topk_groups = cfg.topk_groups;
  o.norm_topk_prob = cfg.norm_topk_prob;
  o.routed_scaling_factor = cfg.routed_scaling_factor;
  o.validate();
  return o;
}

void RouterOptions::validate() const {
  if (experts < 1) fail(detail::cat("need at least one expert, got ", experts), "model.experts");
  if (n_groups < 1 || experts % n_groups != 0)
    fail(detail::cat("n_groups = ", n_groups, " must be >= 1 and divide experts = ", experts),
         "model.n_groups", "choose a divisor of model.experts (1 disables group-limited routing)");
  if (topk_groups < 1 || topk_groups > n_groups)
    fail(detail::cat("topk_groups = ", topk_groups, " must lie in [1, n_groups = ", n_groups, "]"),
         "model.topk_groups");
  const int64_t candidates = topk_groups * (experts / n_groups);
  if (top_k < 1 || top_k > candidates)
    fail(detail::cat("top_k = ", top_k, " must lie in [1, ", candidates,
                     "] (the experts in topk_groups groups)"),
         "model.top_k", "raise model.topk_groups or lower model.top_k");
  if (!(routed_scaling_factor > 0.0))
    fail(detail::cat("routed_scaling_factor = ", routed_scaling_factor, " must be > 0"),
         "model.routed_scaling_factor");
  if (max_nodes < 0)
    fail(detail::cat("max_nodes_per_token = ", max_nodes, " must be >= 0 (0 = off)"),
         "parallel.max_nodes_per_token");
  if (max_nodes == 0) return;
  if (static_cast<int64_t>(expert_node.size()) != experts)
    fail(detail::cat("node-limited routing needs the node of each of the ", experts,
                     " experts, got ", expert_node.size()),
         "parallel.max_nodes_per_token");
  std::vector<int64_t> node_size(static_cast<size_t>(nodes()), 0);
  for (int64_t e = 0; e < experts; ++e) {
    if (expert_node[e] < 0)
      fail(detail::cat("expert ", e, " is on node ", expert_node[e]),
           "parallel.max_nodes_per_token");
    ++node_size[expert_node[e]];
  }
  if (!node_limited()) return;  // M >= nodes: every node is always allowed
  if (n_groups > 1 && topk_groups < n_groups)
    fail(detail::cat("node-limited routing (max_nodes_per_token = ", max_nodes,
                     ") and group-limited routing (topk_groups = ", topk_groups, " of n_groups = ",
                     n_groups, ") are both on"),
         "parallel.max_nodes_per_token",
         "use one: set parallel.max_nodes_per_token: 0 or model.topk_groups = model.n_groups");
  // Any M nodes must hold at least K experts: the M smallest nodes.
  std::sort(node_size.begin(), node_size.end());
  int64_t smallest = 0;
  for (int64_t i = 0; i < max_nodes; ++i) smallest += node_size[i];
  if (top_k > smallest)
    fail(detail::cat("top_k = ", top_k, " experts do not fit on ", max_nodes,
                     " nodes: the smallest of them hold ", smallest, " experts"),
         "parallel.max_nodes_per_token", "raise parallel.max_nodes_per_token");
}

int64_t RouterOptions::nodes() const {
  int64_t most = 0;
  for (int32_t node : expert_node) most = std::max<int64_t>(most, node);
  return expert_node.empty() ? 1 : most + 1;
}

template <typename T>
Router<T>::Router(const RouterOptions& opts, const ExecContext& ctx) : opts_(opts), ctx_(ctx) {
  opts_.validate();
}

template <typename T>
void Router<T>::route_logits(const T* logits, const T* bias, int64_t n,
                             RouterCache<T>& cache) const {
  const int64_t E = opts_.experts;
  grow(cache.logits, n * E);
  if (n > 0) std::memcpy(cache.logits.data(), logits, sizeof(T) * n * E);
  route(bias, n, cache);
}

template <typename T>
void Router<T>::route(const T* bias, int64_t n, RouterCache<T>& cache) const {
  const int64_t E = opts_.experts, K = opts_.top_k;
  const int64_t G = opts_.n_groups, KG = opts_.topk_groups;
  SADARI_CHECK(n >= 0, "router: negative token count ", n);
  SADARI_ASSERT(static_cast<int64_t>(cache.logits.size()) >= n * E);
  cache.n = n;
  grow(cache.scores, n * E);
  grow(cache.biased, n * E);
  grow(cache.expert, n * K);
  grow(cache.weight, n * K);
  grow(cache.selected_sum, n);
  const int64_t M = opts_.node_limited() ? opts_.max_nodes : 0;
  grow(cache.top_val, n * std::max({K, KG, M}));
  if (n == 0) return;

  T* s = cache.scores.data();
  if (opts_.score_func == ScoreFunc::softmax)
    ops::softmax_forward<T>(ctx_, cache.logits.data(), s, n, E);
  else
    ops::sigmoid_forward<T>(ctx_, cache.logits.data(), s, n * E);

  T* b = cache.biased.data();
  ops::add_expert_bias<T>(ctx_, s, bias, b, n, E);

  const uint8_t* mask = nullptr;
  if (G > 1 && KG < G) {
    // Group-limited routing: keep the KG best groups of each token, then pick
    // experts only inside them. Restricting to few groups bounds how many
    // nodes a token's rows travel to under expert parallelism.
    const int64_t gsize = E / G;
    const bool top2 = opts_.score_func == ScoreFunc::sigmoid && gsize >= 2;
    grow(cache.group_score, n * G);
    grow(cache.group_idx, n * KG);
    grow(cache.mask, n * E);
    T* gs = cache.group_score.data();
    ops::group_scores<T>(ctx_, b, n, E, G, top2, gs);
    ops::topk_rows<T>(ctx_, gs, n, G, KG, cache.group_idx.data(), cache.top_val.data());
    ops::groups_to_mask(ctx_, cache.group_idx.data(), n, E, KG, gsize, cache.mask.data());
    mask = cache.mask.data();
  }
  if (M > 0) mask = node_mask(b, n, cache);
  ops::topk_rows<T>(ctx_, b, n, E, K, cache.expert.data(), cache.top_val.data(), mask);

  const bool normalise = opts_.norm_topk_prob && K > 1;
  const T c = static_cast<T>(opts_.routed_scaling_factor);
  ops::gate_weights<T>(ctx_, s, cache.expert.data(), n, E, K, normalise, c,
                       static_cast<T>(kNormEps), cache.weight.data(), cache.selected_sum.data());
}

template <typename T>
const uint8_t* Router<T>::node_mask(const T* b, int64_t n, RouterCache<T>& cache) const {
  // Node-limited routing (see router.h): per token, score each node by the sum of
  // its q best biased affinities, keep the M best nodes, allow only their experts.
  const int64_t E = opts_.experts, K = opts_.top_k, M = opts_.max_nodes, N = opts_.nodes();
  const int64_t q = std::max<int64_t>(1, K / M);
  const int32_t* node = opts_.expert_node.data();
  grow(cache.group_score, n * N);
  grow(cache.group_idx, n * M);
  grow(cache.mask, n * E);
  T* ns = cache.group_score.data();
  ops::node_scores<T>(ctx_, b, node, n, E, N, q, ns);
  ops::topk_rows<T>(ctx_, ns, n, N, M, cache.group_idx.data(), cache.top_val.data());
  ops::nodes_to_mask(ctx_, cache.group_idx.data(), node, n, E, M, cache.mask.data());
  return cache.mask.data();
}

template <typename T>
void Router<T>::backward(const T* d_weight, const T* d_scores_extra, RouterCache<T>& cache,
                         T* d_logits) const {
  const int64_t E = opts_.experts, K = opts_.top_k, n = cache.n;
  if (n == 0) return;
  grow(cache.d_scores, n * E);
  T* ds = cache.d_scores.data();
  const T* s = cache.scores.data();
  const bool normalise = opts_.norm_topk_prob && K > 1;
  const T c = static_cast<T>(opts_.routed_scaling_factor);
  ops::gate_weights_backward<T>(ctx_, d_weight, d_scores_extra, s, cache.expert.data(),
                                cache.selected_sum.data(), n, E, K, normalise, c, ds);
  if (opts_.score_func == ScoreFunc::softmax)
    ops::softmax_backward<T>(ctx_, ds, s, d_logits, n, E);
  else
    ops::sigmoid_backward<T>(ctx_, ds, s, d_logits, n * E);
}

template <typename T>
double seq_aux_loss_forward(const T* scores, const int32_t* expert, int64_t n, int64_t seq,
                            int64_t E, int64_t K, double alpha, std::vector<double>& f,
                            const ExecContext& ctx) {
  return ops::seq_aux_loss_forward<T>(ctx, scores, expert, n, seq, E, K, alpha, f);
}

template <typename T>
void seq_aux_loss_backward(const T* scores, const std::vector<double>& f, int64_t n,
                           int64_t seq, int64_t E, double alpha, double scale, T* d_scores,
                           const ExecContext& ctx) {
  ops::seq_aux_loss_backward<T>(ctx, scores, f, n, seq, E, alpha, scale, d_scores);
}

template class Router<float>;
template class Router<double>;
template double seq_aux_loss_forward<float>(const float*, const int32_t*, int64_t, int64_t,
                                            int64_t, int64_t, double, std::vector<double>&,
                                            const ExecContext&);
template double seq_aux_loss_forward<double>(const double*, const int32_t*, int64_t, int64_t,
                                             int64_t, int64_t, double, std::vector<double>&,
                                             const ExecContext&);
template void seq_aux_loss_backward<float>(const float*, const std::vector<double>&, int64_t,
                                           int64_t, int64_t, double, double, float*,
                                           const ExecContext&);
template void seq_aux_loss_backward<double>(const double*, const std::vector<double>&, int64_t,
                                            int64_t, int64_t, double, double, double*,
                                            const ExecContext&);

}  // namespace sadari
