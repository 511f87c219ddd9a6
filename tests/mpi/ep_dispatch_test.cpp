// Expert-parallel dispatch over real ranks (the whole world as one ep group):
//   (a) dispatch + combine with identity experts returns the input, rows arrive
//       grouped by slot, then source rank, then token order;
//   (b) an MoE layer split over the ep ranks equals the one-process layer on the
//       union of all ranks' tokens: outputs, input gradients, expert gradients
//       (by logical expert), router/shared gradients summed over ranks;
//   (c) the same with a placement that replicates experts;
//   (d) the capacity rule drops and counts exactly the pairs the documented
//       priority names, whatever the placement.
// Every rank computes the expected values itself from the same seeds.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/parameter.h"
#include "model/moe_layer.h"
#include "parallel/expert_parallel_dispatcher.h"
#include "tests/mpi/mpi_test_env.h"
#include "tests/parallel/ep_test_util.h"

namespace sadari {
namespace {

using ep_test::random_routing;
using ep_test::random_values;

std::unique_ptr<Communicator> make_ep_group() {
  Communicator& world = test::world();
  return world.split(0, world.rank(), "ep");
}

// Rank r holds experts 2r, 2r+1 and a replica of expert 2r+2 (mod E): every
// even expert has two replicas on neighbouring ranks. E = 2 * ep.
ExpertPlacement replicated_placement(int ep) {
  const int64_t E = 2 * ep;
  std::vector<std::vector<int64_t>> slots(static_cast<size_t>(ep));
  for (int r = 0; r < ep; ++r) slots[r] = {2 * r, 2 * r + 1, (2 * r + 2) % E};
  return ExpertPlacement::from_slots(E, slots);
}

// Tokens on rank r for the identity-expert tests (rank 1 has none: the empty
// side of every exchange is exercised).
int64_t tokens_of(int r) { return r == 1 ? 0 : 4 + 3 * r; }

TEST(EpDispatch, IdentityExpertsRoundTripAndRowOrder) {
  auto ep = make_ep_group();
  const int me = ep->rank(), P = ep->size();
  const int64_t E = 4 * P, k = 4, D = 3;  // weights 1/4: sums of k quarters are exact
  ExpertParallelDispatcher<double> d(*ep, ExpertPlacement::identity(E, P), ParallelConfig{});
  const int64_t n = tokens_of(me);
  // x[t] = (rank, token, noise): a row tells where it came from.
  std::vector<double> x = random_values<double>(n * D, 100 + me, 1.0);
  for (int64_t t = 0; t < n; ++t) {
    x[t * D + 0] = me;
    x[t * D + 1] = static_cast<double>(t);
    x[t * D + 2] = std::round(x[t * D + 2] * 1024) / 1024;  // few bits: quarters add exactly
  }
  const auto route = random_routing(n, k, E, 200 + me);
  auto s = d.make_state();
  d.dispatch(x.data(), route.data(), n, k, D, *s);

  // Arrival layout: slot j holds, by source rank then token, exactly the tokens
  // of every rank that chose expert local_expert_ids()[j].
  const std::vector<int64_t>& ids = d.local_expert_ids();
  std::vector<double> expected_rows;
  for (size_t j = 0; j < ids.size(); ++j)
    for (int src = 0; src < P; ++src) {
      const int64_t ns = tokens_of(src);
      const auto rs = random_routing(ns, k, E, 200 + src);
      for (int64_t t = 0; t < ns; ++t)
        if (std::count(rs.begin() + t * k, rs.begin() + (t + 1) * k, ids[j]))
          expected_rows.insert(expected_rows.end(), {double(src), double(t)});
    }
  const int64_t R = s->num_rows();
  EXPECT_EQ(2 * R, static_cast<int64_t>(expected_rows.size()));
  std::vector<double> got_rows;
  for (int64_t r = 0; r < R; ++r)
    got_rows.insert(got_rows.end(), {s->rows[r * D], s->rows[r * D + 1]});
  EXPECT_EQ(got_rows, expected_rows) << "rank " << me;

  // Identity experts, weights 1/k: y = x exactly; backward mirrors it.
  const std::vector<double> out(s->rows.begin(), s->rows.begin() + R * D);
  const std::vector<double> w(n * k, 1.0 / k);
  std::vector<double> y(n * D, 0.0);
  d.combine(out.data(), w.data(), y.data(), *s);
  EXPECT_EQ(y, x) << "rank " << me;
  std::vector<double> d_out(R * D), d_w(n * k), dx(n * D, 0.0);
  d.combine_backward(x.data(), out.data(), w.data(), d_out.data(), d_w.data(), *s);
  d.dispatch_backward(d_out.data(), dx.data(), *s);
  EXPECT_EQ(dx, x) << "rank " << me;
  for (int64_t p = 0; p < n * k; ++p) {
    const double* xt = x.data() + (p / k) * D;
    double dot = 0;
    for (int64_t c = 0; c < D; ++c) dot += xt[c] * xt[c];
    EXPECT_DOUBLE_EQ(d_w[p], dot);
  }
  EXPECT_EQ(s->dropped_pairs, 0);
}

template <typename T>
double rel_diff(const T* a, const T* b, int64_t n) {
  double diff = 0, scale = 0;
  for (int64_t i = 0; i < n; ++i) {
    diff = std::max(diff, std::abs(double(a[i]) - double(b[i])));
    scale = std::max(scale, std::abs(double(b[i])));
  }
  return diff / std::max(scale, 1e-30);
}

// The one-process reference for node-limited routing: the real local dispatcher,
// reporting the node map the expert-parallel one reports (the router needs it).
template <typename T>
class NodeAwareLocalDispatcher final : public TokenDispatcher<T> {
 public:
  NodeAwareLocalDispatcher(int64_t experts, int64_t max_nodes, std::vector<int32_t> nodes,
                           DispatchWire wire = {})
      : local_(experts, wire), max_nodes_(max_nodes), nodes_(std::move(nodes)) {}
  int64_t experts() const override { return local_.experts(); }
  const std::vector<int64_t>& local_expert_ids() const override {
    return local_.local_expert_ids();
  }
  int64_t max_nodes_per_token() const override { return max_nodes_; }
  std::vector<int32_t> expert_nodes() const override { return nodes_; }
  std::unique_ptr<DispatchState<T>> make_state() const override { return local_.make_state(); }
  void dispatch(const T* x, const int32_t* e, int64_t n, int64_t k, int64_t D,
                DispatchState<T>& s) override {
    local_.dispatch(x, e, n, k, D, s);
  }
  void combine(const T* out, const T* w, T* y, DispatchState<T>& s) override {
    local_.combine(out, w, y, s);
  }
  void combine_backward(const T* dy, const T* out, const T* w, T* dout, T* dw,
                        DispatchState<T>& s) override {
    local_.combine_backward(dy, out, w, dout, dw, s);
  }
  void dispatch_backward(const T* drows, T* dx, DispatchState<T>& s) override {
    local_.dispatch_backward(drows, dx, s);
  }

 private:
  LocalTokenDispatcher<T> local_;
  int64_t max_nodes_;
  std::vector<int32_t> nodes_;
};

// (b)/(c): the split layer against the one-process layer on all tokens.
// precision: the layer's GEMMs and the dispatcher's wire formats (both layers).
// shared_tol: for the shared expert's weight gradients, which under fp8 differ by
// quantisation noise (its Wgrad tiles run along the tokens, each rank's own here
// against all of them in one process); everything else within tol.
template <typename T>
void check_moe_parity(Communicator& ep, const ExpertPlacement& placement, double tol,
                      const ParallelConfig& opts = ParallelConfig{}, int64_t top_k = 2,
                      ComputePrecision precision = ComputePrecision::f32,
                      double shared_tol = -1) {
  if (shared_tol < 0) shared_tol = tol;
  const DispatchWire wire = DispatchWire::for_precision(precision);
  const int me = ep.rank(), P = ep.size();
  ModelConfig cfg = ep_test::ep_model_config(placement.experts(), top_k, 1);
  cfg.score_func = "sigmoid";
  const int64_t D = cfg.hidden, seq = 4, layer = 2;
  const uint64_t seed = 4242;
  // Rank r has 3 or 4 sequences; the one-process layer sees them all, in rank order.
  std::vector<int64_t> first(P + 1, 0);
  for (int r = 0; r < P; ++r) first[r + 1] = first[r] + seq * (3 + r % 2);
  const int64_t N = first[P], n = first[me + 1] - first[me], n0 = first[me];
  const auto x_all = random_values<T>(N * D, 7, 1.0);
  const auto dy_all = random_values<T>(N * D, 8, 1.0);
  const T aux_scale_all = T(0.5);
  // Each rank's aux loss is a mean over its own sequences: weighting it by its
  // share of the sequences makes the sum the one-process aux term.
  const T aux_scale = aux_scale_all * T(n) / T(N);

  ParameterStore ps_ref(dtype_of<T>::value), ps_ep(dtype_of<T>::value);
  ExpertParallelDispatcher<T> dispatcher(ep, placement, opts, wire);
  NodeAwareLocalDispatcher<T> ref_dispatcher(cfg.experts, dispatcher.max_nodes_per_token(),
                                             dispatcher.expert_nodes(), wire);
  MoELayer<T> ref(cfg, layer, ps_ref, seed, &ref_dispatcher, precision);
  MoELayer<T> split(cfg, layer, ps_ep, seed, &dispatcher, precision);
  // A balancing bias that differs per expert, as after some training.
  Parameter* bias_ref = ref.router_bias();
  Parameter* bias_ep = split.router_bias();
  for (int64_t e = 0; e < cfg.experts; ++e) {
    bias_ref->w<T>()[e] = T(0.03) * T((e * 5) % 7 - 3);
    bias_ep->w<T>()[e] = T(0.03) * T((e * 5) % 7 - 3);
  }

  typename MoELayer<T>::Cache c_ref, c_ep;
  std::vector<T> y_ref(N * D), dx_ref(N * D), y(n * D), dx(n * D);
  ref.forward(x_all.data(), y_ref.data(), N, seq, c_ref);
  ref.backward(dy_all.data(), dx_ref.data(), c_ref, aux_scale_all);
  split.forward(x_all.data() + n0 * D, y.data(), n, seq, c_ep);
  split.backward(dy_all.data() + n0 * D, dx.data(), c_ep, aux_scale);

  EXPECT_LE(rel_diff(y.data(), y_ref.data() + n0 * D, n * D), tol) << "y, rank " << me;
  EXPECT_LE(rel_diff(dx.data(), dx_ref.data() + n0 * D, n * D), tol) << "dx, rank " << me;
  // Router load: per-rank counts of this rank's tokens, summing to the whole.
  std::vector<int64_t> counts = split.expert_counts(c_ep);
  ep.all_reduce(counts.data(), static_cast<int64_t>(counts.size()), ReduceOp::sum);
  EXPECT_EQ(counts, ref.expert_counts(c_ref));

  // Dense (router, shared) gradients: summed over the ep ranks.
  for (const char* name : {"router.weight", "shared.gate_up", "shared.down"}) {
    const std::string full = "blocks.2.moe." + std::string(name);
    Parameter* a = ps_ep.find(full);
    const Parameter* b = ps_ref.find(full);
    std::vector<T> g(a->g<T>(), a->g<T>() + a->numel());
    ep.all_reduce(g.data(), a->numel(), ReduceOp::sum);
    const double t = std::string(name) == "router.weight" ? tol : shared_tol;
    EXPECT_LE(rel_diff(g.data(), b->g<T>(), a->numel()), t) << full << ", rank " << me;
  }
  // Expert gradients by logical id, summed over replicas (each rank adds its
  // slots' gradients into a buffer of all experts).
  for (const char* kind : {"gate_up", "down"}) {
    const int64_t per = ps_ref.find("blocks.2.moe.experts.0." + std::string(kind))->numel();
    std::vector<T> all(static_cast<size_t>(cfg.experts * per), T(0));
    for (int64_t j = 0; j < split.local_experts(); ++j) {
      const Parameter* p =
          std::string(kind) == "gate_up" ? split.expert_gate_up(j) : split.expert_down(j);
      const int64_t e = split.local_expert_id(j);
      EXPECT_EQ(p->expert_id, e);
      for (int64_t i = 0; i < per; ++i) all[e * per + i] += p->g<T>()[i];
    }
    ep.all_reduce(all.data(), static_cast<int64_t>(all.size()), ReduceOp::sum);
    for (int64_t e = 0; e < cfg.experts; ++e) {
      const std::string name = "blocks.2.moe.experts." + std::to_string(e) + "." + kind;
      EXPECT_LE(rel_diff(all.data() + e * per, ps_ref.find(name)->g<T>(), per), tol)
          << name << ", rank " << me;
    }
  }
  // With replicas: some replicated expert really had its rows split over two
  // or more replicas (so the test exercises the spreading rule).
  if (placement.has_replicas()) {
    std::vector<int64_t> busy_replicas(static_cast<size_t>(cfg.experts), 0);
    for (size_t j = 0; j < c_ep.dispatch->local_counts.size(); ++j)
      busy_replicas[split.local_expert_id(static_cast<int64_t>(j))] +=
          c_ep.dispatch->local_counts[j] > 0;
    ep.all_reduce(busy_replicas.data(), cfg.experts, ReduceOp::sum);
    EXPECT_GE(*std::max_element(busy_replicas.begin(), busy_replicas.end()), 2);
  }
}

TEST(EpDispatch, MoELayerMatchesOneProcessDouble) {
  auto ep = make_ep_group();
  check_moe_parity<double>(*ep, ExpertPlacement::identity(2 * ep->size(), ep->size()), 1e-12);
}

TEST(EpDispatch, MoELayerMatchesOneProcessFloat) {
  auto ep = make_ep_group();
  check_moe_parity<float>(*ep, ExpertPlacement::identity(2 * ep->size(), ep->size()), 1e-5);
}

// FP8 dispatch (codes + 1x128 scales on the wire) and BF16 combine and backward
// transfers against the one-process layer whose local dispatcher rounds the same
// way: the same values wherever the experts run. Every routed expert sees the
// same rows in the same order (so even its FP8 Wgrad tiles agree); only the
// shared expert's Wgrad tiles differ (each rank's tokens), by quantisation noise.
TEST(EpDispatch, MoELayerMatchesOneProcessInFp8AndBf16) {
  auto ep = make_ep_group();
  const ExpertPlacement placement = ExpertPlacement::identity(2 * ep->size(), ep->size());
  check_moe_parity<float>(*ep, placement, 1e-5, ParallelConfig{}, 2, ComputePrecision::fp8,
                          ep->size() > 1 ? 0.2 : 1e-5);
  check_moe_parity<float>(*ep, placement, 1e-5, ParallelConfig{}, 2, ComputePrecision::bf16);
}

// Node-limited routing: each "node" of ranks_per_node ranks; every token's
// experts on at most M nodes, and the layer still equals the one-process layer
// with the same node map.
TEST(EpDispatch, NodeLimitedRoutingMatchesOneProcess) {
  auto ep = make_ep_group();
  const int P = ep->size();
  int checked = 0;
  for (int64_t ranks_per_node : {1, 2}) {
    if (P % ranks_per_node != 0 || P / ranks_per_node < 2) continue;
    ParallelConfig opts;
    opts.ranks_per_node = ranks_per_node;
    opts.max_nodes_per_token = 1;
    const ExpertPlacement placement = ExpertPlacement::identity(2 * P, P);
    check_moe_parity<double>(*ep, placement, 1e-12, opts, 2);
    // The limit holds on this rank's tokens.
    ExpertParallelDispatcher<double> d(*ep, placement, opts);
    ModelConfig cfg = ep_test::ep_model_config(2 * P, 2, 0);
    ParameterStore ps(DType::f64);
    MoELayer<double> moe(cfg, 0, ps, 5, &d);
    const int64_t n = 12;
    const auto x = random_values<double>(n * cfg.hidden, 60 + ep->rank(), 1.0);
    std::vector<double> y(n * cfg.hidden);
    MoELayer<double>::Cache c;
    moe.forward(x.data(), y.data(), n, n, c);
    const std::vector<int32_t> nodes = d.expert_nodes();
    for (int64_t t = 0; t < n; ++t)
      EXPECT_EQ(nodes[c.router.expert[t * 2]], nodes[c.router.expert[t * 2 + 1]])
          << "token " << t << " of rank " << ep->rank() << " spans two nodes";
    ++checked;
  }
  if (checked == 0) GTEST_SKIP() << "needs two or more nodes of ranks";
}

TEST(EpDispatch, ReplicatedExpertsGiveTheSameResult) {
  auto ep = make_ep_group();
  if (ep->size() < 2) GTEST_SKIP() << "replicas need two or more ranks";
  const ExpertPlacement placement = replicated_placement(ep->size());
  ASSERT_TRUE(placement.has_replicas());
  check_moe_parity<double>(*ep, placement, 1e-12);
  check_moe_parity<float>(*ep, placement, 1e-5);
}

// (d) identity experts with a capacity: y_t = (sum of t's kept weights) x_t.
void check_capacity(Communicator& ep, const ExpertPlacement& placement) {
  const int me = ep.rank(), P = ep.size();
  const int64_t E = placement.experts(), k = 2, D = 3;
  ParallelConfig opts;
  opts.capacity_factor = 0.75;
  ExpertParallelDispatcher<double> d(ep, placement, opts);
  std::vector<std::vector<int32_t>> routes;
  for (int r = 0; r < P; ++r)
    routes.push_back(random_routing(tokens_of(r) * 2, k, E, 300 + r, 0.6));
  const auto kept = ep_test::kept_pairs(routes, k, E, opts.capacity_factor);
  const int64_t n = tokens_of(me) * 2;
  const auto x = random_values<double>(n * D, 400 + me, 1.0);
  const auto w = random_values<double>(n * k, 500 + me, 0.5);
  auto s = d.make_state();
  d.dispatch(x.data(), routes[me].data(), n, k, D, *s);
  const int64_t R = s->num_rows();
  const std::vector<double> out(s->rows.begin(), s->rows.begin() + R * D);
  std::vector<double> y(n * D, 0.0);
  d.combine(out.data(), w.data(), y.data(), *s);

  int64_t expected_dropped = 0, total_dropped_expected = 0;
  for (int r = 0; r < P; ++r)
    for (uint8_t f : kept[r]) total_dropped_expected += !f;
  for (uint8_t f : kept[me]) expected_dropped += !f;
  EXPECT_EQ(s->dropped_pairs, expected_dropped) << "rank " << me;
  for (int64_t t = 0; t < n; ++t) {
    double sum_w = 0;
    for (int64_t j = 0; j < k; ++j)
      if (kept[me][t * k + j]) sum_w += w[t * k + j];
    for (int64_t c = 0; c < D; ++c)
      EXPECT_NEAR(y[t * D + c], sum_w * x[t * D + c], 1e-14) << "rank " << me << " token " << t;
  }
  // The group dropped something, and no logical expert got more than C rows.
  int64_t total_dropped = s->dropped_pairs;
  ep.all_reduce(&total_dropped, 1, ReduceOp::sum);
  EXPECT_EQ(total_dropped, total_dropped_expected);
  EXPECT_GT(total_dropped, 0) << "the skewed routing must overflow expert 0";
  std::vector<int64_t> rows_per_expert(static_cast<size_t>(E), 0);
  for (size_t j = 0; j < d.local_expert_ids().size(); ++j)
    rows_per_expert[d.local_expert_ids()[j]] += s->local_counts[j];
  ep.all_reduce(rows_per_expert.data(), E, ReduceOp::sum);
  int64_t N = 0;
  for (int r = 0; r < P; ++r) N += tokens_of(r) * 2;
  const auto C = static_cast<int64_t>(std::ceil(opts.capacity_factor * double(N * k) / double(E)));
  for (int64_t e = 0; e < E; ++e) EXPECT_LE(rows_per_expert[e], C) << "expert " << e;
}

TEST(EpDispatch, CapacityDropsAndCountsAsDocumented) {
  auto ep = make_ep_group();
  check_capacity(*ep, ExpertPlacement::identity(2 * ep->size(), ep->size()));
  // The drops do not depend on the placement.
  if (ep->size() >= 2) check_capacity(*ep, replicated_placement(ep->size()));
}

}  // namespace
}  // namespace sadari
