// ExpertParallelDispatcher in one process (SelfCommunicator, identity placement):
// it must do exactly what LocalTokenDispatcher does, bit for bit, at the
// dispatcher level and inside an MoE layer; and its capacity rule must drop and
// count the pairs the documented priority says. Multi-rank behaviour is tested in
// tests/mpi/ep_dispatch_test.cpp.
#include "parallel/expert_parallel_dispatcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "comm/self_communicator.h"
#include "core/error.h"
#include "core/parameter.h"
#include "model/moe_layer.h"
#include "tests/model/model_test_util.h"
#include "tests/parallel/ep_test_util.h"

namespace sadari {
namespace {

using ep_test::random_routing;
using ep_test::random_values;

template <typename T>
bool bitwise_equal(const T* a, const T* b, int64_t n) {
  return n == 0 || std::memcmp(a, b, sizeof(T) * static_cast<size_t>(n)) == 0;
}

template <typename T>
class EpSingleProcess : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(EpSingleProcess, Types);

// Every step of the data flow, with arbitrary expert outputs and gradients,
// two micro-batches in flight at once (interleaved calls on two states).
TYPED_TEST(EpSingleProcess, DispatcherMatchesLocalBitForBit) {
  using T = TypeParam;
  const int64_t E = 8, k = 3, D = 5;
  const int64_t ns[2] = {37, 20};
  SelfCommunicator ep("ep");
  ExpertParallelDispatcher<T> epd(ep, ExpertPlacement::identity(E, 1), ParallelConfig{});
  LocalTokenDispatcher<T> local(E);
  EXPECT_EQ(epd.local_expert_ids(), local.local_expert_ids());

  std::vector<T> x[2];
  std::vector<int32_t> route[2];
  std::unique_ptr<DispatchState<T>> se[2], sl[2];
  for (int m = 0; m < 2; ++m) {
    x[m] = random_values<T>(ns[m] * D, 10 + m, 1.0);
    route[m] = random_routing(ns[m], k, E, 20 + m);
    se[m] = epd.make_state();
    sl[m] = local.make_state();
    epd.dispatch(x[m].data(), route[m].data(), ns[m], k, D, *se[m]);
    local.dispatch(x[m].data(), route[m].data(), ns[m], k, D, *sl[m]);
  }
  for (int m = 0; m < 2; ++m) {
    const int64_t n = ns[m], R = sl[m]->num_rows();
    ASSERT_EQ(se[m]->num_rows(), R);
    EXPECT_EQ(R, n * k);
    EXPECT_EQ(se[m]->tokens_per_expert, sl[m]->tokens_per_expert);
    EXPECT_EQ(se[m]->local_counts, sl[m]->local_counts);
    EXPECT_EQ(se[m]->local_offsets, sl[m]->local_offsets);
    EXPECT_EQ(se[m]->dropped_pairs, 0);
    EXPECT_TRUE(bitwise_equal(se[m]->rows.data(), sl[m]->rows.data(), R * D));

    const auto out = random_values<T>(R * D, 30 + m, 1.0);
    const auto w = random_values<T>(n * k, 40 + m, 0.5);
    auto y_e = random_values<T>(n * D, 50 + m, 1.0), y_l = y_e;
    epd.combine(out.data(), w.data(), y_e.data(), *se[m]);
    local.combine(out.data(), w.data(), y_l.data(), *sl[m]);
    EXPECT_TRUE(bitwise_equal(y_e.data(), y_l.data(), n * D));

    const auto dy = random_values<T>(n * D, 60 + m, 1.0);
    std::vector<T> dout_e(R * D), dout_l(R * D), dw_e(n * k), dw_l(n * k);
    epd.combine_backward(dy.data(), out.data(), w.data(), dout_e.data(), dw_e.data(), *se[m]);
    local.combine_backward(dy.data(), out.data(), w.data(), dout_l.data(), dw_l.data(), *sl[m]);
    EXPECT_TRUE(bitwise_equal(dout_e.data(), dout_l.data(), R * D));
    EXPECT_TRUE(bitwise_equal(dw_e.data(), dw_l.data(), n * k));

    const auto drows = random_values<T>(R * D, 70 + m, 1.0);
    auto dx_e = random_values<T>(n * D, 80 + m, 1.0), dx_l = dx_e;
    epd.dispatch_backward(drows.data(), dx_e.data(), *se[m]);
    local.dispatch_backward(drows.data(), dx_l.data(), *sl[m]);
    EXPECT_TRUE(bitwise_equal(dx_e.data(), dx_l.data(), n * D));
  }
}

// The whole MoE layer (router, aux loss, experts, shared experts) forward and
// backward: outputs, input gradient and every parameter gradient bit for bit.
TYPED_TEST(EpSingleProcess, MoELayerMatchesLocalBitForBit) {
  using T = TypeParam;
  const ModelConfig cfg = ep_test::ep_model_config(8, 2, 1);
  const int64_t seq = 6, n = 3 * seq, D = cfg.hidden;
  SelfCommunicator ep("ep");
  ExpertParallelDispatcher<T> epd(ep, ExpertPlacement::identity(cfg.experts, 1), ParallelConfig{});
  ParameterStore ps_e(dtype_of<T>::value), ps_l(dtype_of<T>::value);
  MoELayer<T> moe_e(cfg, 1, ps_e, 99, &epd);
  MoELayer<T> moe_l(cfg, 1, ps_l, 99);
  const auto x = random_values<T>(n * D, 1, 1.0);
  const auto dy = random_values<T>(n * D, 2, 1.0);
  typename MoELayer<T>::Cache c_e, c_l;
  std::vector<T> y_e(n * D), y_l(n * D), dx_e(n * D), dx_l(n * D);
  const double aux_e = moe_e.forward(x.data(), y_e.data(), n, seq, c_e);
  const double aux_l = moe_l.forward(x.data(), y_l.data(), n, seq, c_l);
  EXPECT_EQ(aux_e, aux_l);
  EXPECT_TRUE(bitwise_equal(y_e.data(), y_l.data(), n * D));
  EXPECT_EQ(moe_e.expert_counts(c_e), moe_l.expert_counts(c_l));
  EXPECT_EQ(moe_e.dropped_pairs(c_e), 0);
  moe_e.backward(dy.data(), dx_e.data(), c_e, T(0.5));
  moe_l.backward(dy.data(), dx_l.data(), c_l, T(0.5));
  EXPECT_TRUE(bitwise_equal(dx_e.data(), dx_l.data(), n * D));
  ASSERT_EQ(ps_e.all().size(), ps_l.all().size());
  for (size_t i = 0; i < ps_e.all().size(); ++i) {
    const Parameter& a = *ps_e.all()[i];
    const Parameter* b = ps_l.find(a.name);
    ASSERT_NE(b, nullptr) << a.name;
    EXPECT_TRUE(bitwise_equal(a.w<T>(), b->w<T>(), a.numel())) << a.name;
    EXPECT_TRUE(bitwise_equal(a.g<T>(), b->g<T>(), a.numel())) << a.name;
  }
}

// Capacity f: C = ceil(f * n * k / E) per expert; the earliest tokens are kept.
// With identity experts (expert_out = rows) y_t = sum of w over t's kept pairs
// times x_t, and dropped pairs get a zero gate-weight gradient.
TYPED_TEST(EpSingleProcess, CapacityDropsTheLatestTokensAndCountsThem) {
  using T = TypeParam;
  const int64_t E = 4, k = 2, D = 3, n = 10;
  ParallelConfig opts;
  opts.capacity_factor = 0.5;  // C = ceil(0.5 * 10 * 2 / 4) = 3
  SelfCommunicator ep("ep");
  ExpertParallelDispatcher<T> epd(ep, ExpertPlacement::identity(E, 1), opts);
  const auto x = random_values<T>(n * D, 3, 1.0);
  const auto route = random_routing(n, k, E, 4, /*skew=*/0.7);
  const auto kept = ep_test::kept_pairs({route}, k, E, opts.capacity_factor)[0];
  int64_t expected_dropped = 0;
  std::vector<int64_t> kept_per_expert(E, 0), routed_per_expert(E, 0);
  for (int64_t p = 0; p < n * k; ++p) {
    expected_dropped += !kept[p];
    kept_per_expert[route[p]] += kept[p];
    ++routed_per_expert[route[p]];
  }
  ASSERT_GT(expected_dropped, 0) << "the routing must overflow an expert for this test";

  auto state = epd.make_state();
  epd.dispatch(x.data(), route.data(), n, k, D, *state);
  EXPECT_EQ(state->dropped_pairs, expected_dropped);
  EXPECT_EQ(state->tokens_per_expert, routed_per_expert);  // the router's load, before drops
  EXPECT_EQ(state->local_counts, kept_per_expert);
  for (int64_t e = 0; e < E; ++e) EXPECT_LE(state->local_counts[e], 3);

  const int64_t R = state->num_rows();
  const std::vector<T> out(state->rows.begin(), state->rows.begin() + R * D);  // identity experts
  const auto w = random_values<T>(n * k, 5, 0.5);
  std::vector<T> y(n * D, T(0));
  epd.combine(out.data(), w.data(), y.data(), *state);
  for (int64_t t = 0; t < n; ++t) {
    T sum_w = 0;
    for (int64_t j = 0; j < k; ++j)
      if (kept[t * k + j]) sum_w += w[t * k + j];
    for (int64_t d = 0; d < D; ++d)
      EXPECT_NEAR(y[t * D + d], sum_w * x[t * D + d], 1e-6) << "token " << t;
  }
  const auto dy = random_values<T>(n * D, 6, 1.0);
  std::vector<T> dout(R * D), dw(n * k, T(-1));
  epd.combine_backward(dy.data(), out.data(), w.data(), dout.data(), dw.data(), *state);
  for (int64_t p = 0; p < n * k; ++p) {
    T dot = 0;
    for (int64_t d = 0; d < D; ++d) dot += dy[(p / k) * D + d] * x[(p / k) * D + d];
    EXPECT_NEAR(dw[p], kept[p] ? dot : T(0), 1e-5) << "pair " << p;
  }
  std::vector<T> dx(n * D, T(0));
  epd.dispatch_backward(dout.data(), dx.data(), *state);  // identity experts: d rows = d out
  for (int64_t t = 0; t < n; ++t) {
    T sum_w = 0;
    for (int64_t j = 0; j < k; ++j)
      if (kept[t * k + j]) sum_w += w[t * k + j];
    for (int64_t d = 0; d < D; ++d) EXPECT_NEAR(dx[t * D + d], sum_w * dy[t * D + d], 1e-6);
  }
}

// The MoE layer with drops is still differentiable where it is smooth: finite
// differences agree with backward (dropped pairs add nothing and get no gate
// gradient; the kept ones behave as usual).
TEST(ExpertParallelDispatcher, MoELayerWithDropsMatchesFiniteDifferences) {
  const ModelConfig cfg = ep_test::ep_model_config(4, 2, 1);
  const int64_t seq = 6, n = 2 * seq, D = cfg.hidden;
  ParallelConfig opts;
  opts.capacity_factor = 0.6;  // C = ceil(0.6 * 12 * 2 / 4) = 4 of 6 pairs per expert on average
  SelfCommunicator ep("ep");
  ExpertParallelDispatcher<double> d(ep, ExpertPlacement::identity(cfg.experts, 1), opts);
  ParameterStore ps(DType::f64);
  MoELayer<double> moe(cfg, 0, ps, 31, &d);
  auto x = random_values<double>(n * D, 32, 1.0);
  const auto g = random_values<double>(n * D, 33, 1.0);
  MoELayer<double>::Cache cache;
  std::vector<double> y(n * D), dx(n * D);
  moe.forward(x.data(), y.data(), n, seq, cache);
  const int64_t dropped = moe.dropped_pairs(cache);
  const std::vector<int32_t> chosen(cache.router.expert.begin(),
                                    cache.router.expert.begin() + n * 2);
  moe.backward(g.data(), dx.data(), cache, 0.5);
  ASSERT_GT(dropped, 0) << "the test needs drops";

  std::vector<std::vector<double>> grads;
  std::vector<GradTarget> targets = param_targets(ps, grads);
  targets.push_back({x.data(), n * D, dx.data(), "x"});
  bool flipped = false;
  MoELayer<double>::Cache c2;
  std::vector<double> y2(n * D);
  const auto report = grad_check(
      [&] {
        const double aux = moe.forward(x.data(), y2.data(), n, seq, c2);
        if (!std::equal(chosen.begin(), chosen.end(), c2.router.expert.begin())) flipped = true;
        double l = 0.5 * aux;
        for (int64_t i = 0; i < n * D; ++i) l += g[i] * y2[i];
        return l;
      },
      targets);
  ASSERT_FALSE(flipped) << "a selection flipped under perturbation: pick another seed";
  EXPECT_LE(report.max_rel_error, 1e-6) << report.summary();
}

TEST(ExpertParallelDispatcher, RejectsBadSetupAndMisuse) {
  SelfCommunicator ep("ep");
  try {
    ExpertParallelDispatcher<float> d(ep, ExpertPlacement::identity(8, 2), ParallelConfig{});
    ADD_FAILURE() << "a placement for 2 ranks on a group of 1 must be rejected";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("placement has 2 ranks"), std::string::npos) << e.what();
  }
  ParallelConfig negative;
  negative.capacity_factor = -1;
  try {
    ExpertParallelDispatcher<float> d(ep, ExpertPlacement::identity(8, 1), negative);
    ADD_FAILURE() << "a negative capacity factor must be rejected";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("parallel.capacity_factor"), std::string::npos);
  }

  ExpertParallelDispatcher<float> d(ep, ExpertPlacement::identity(4, 1), ParallelConfig{});
  LocalTokenDispatcher<float> local(4);
  auto foreign = local.make_state();
  const std::vector<float> x(2 * 3, 1.f);
  const std::vector<int32_t> route = {0, 1, 2, 3};
  EXPECT_THROW(d.dispatch(x.data(), route.data(), 2, 2, 3, *foreign), Error);
  auto fresh = d.make_state();
  std::vector<float> y(6), w(4, 0.5f);
  EXPECT_THROW(d.combine(x.data(), w.data(), y.data(), *fresh), Error);  // no dispatch yet
  const std::vector<int32_t> bad = {0, 4, 1, 2};
  EXPECT_THROW(d.dispatch(x.data(), bad.data(), 2, 2, 3, *fresh), Error);
}

}  // namespace
}  // namespace sadari
