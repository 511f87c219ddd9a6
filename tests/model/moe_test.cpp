// MoE layer and local token dispatcher: permutation and combine, end-to-end
// gradient checks in double, the aux-loss-free bias update, parameters, and
// determinism across thread counts.
#include "model/moe_layer.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

#include "core/rng.h"
#include "tests/model/model_test_util.h"

namespace sadari {
namespace {

// --- dispatcher ------------------------------------------------------------

TEST(LocalTokenDispatcher, IdentityExpertsReproduceWeightedSum) {
  const int64_t n = 5, k = 2, D = 3, E = 4;
  // Expert 2 receives no token.
  const std::vector<int32_t> expert = {1, 0, 3, 1, 0, 3, 1, 3, 0, 1};
  const auto x = random_vec<double>(n * D, 1, 1.0);
  const auto w = random_vec<double>(n * k, 2, 1.0);
  LocalTokenDispatcher<double> disp(E);
  auto state = disp.make_state();
  disp.dispatch(x.data(), expert.data(), n, k, D, *state);

  EXPECT_EQ(state->tokens_per_expert, (std::vector<int64_t>{3, 4, 0, 3}));
  EXPECT_EQ(state->local_counts, (std::vector<int64_t>{3, 4, 0, 3}));
  EXPECT_EQ(state->local_offsets, (std::vector<int64_t>{0, 3, 7, 7, 10}));
  ASSERT_EQ(state->num_rows(), n * k);
  // Rows grouped by expert, tokens in order within an expert.
  const std::vector<int64_t> token_of_row = {0, 2, 4, 0, 1, 3, 4, 1, 2, 3};
  for (int64_t r = 0; r < n * k; ++r)
    for (int64_t d = 0; d < D; ++d)
      EXPECT_EQ(state->rows[r * D + d], x[token_of_row[r] * D + d]) << "row " << r;

  // Identity experts: out = rows. combine ADDS into y.
  std::vector<double> out(state->rows.begin(), state->rows.begin() + n * k * D);
  std::vector<double> y(n * D, 1.0);
  disp.combine(out.data(), w.data(), y.data(), *state);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t d = 0; d < D; ++d)
      EXPECT_NEAR(y[t * D + d], 1.0 + (w[t * k] + w[t * k + 1]) * x[t * D + d], 1e-14);

  // Backward: d out = w dy; d w = <dy, out>; dispatch_backward scatter-adds.
  const auto dy = random_vec<double>(n * D, 3, 1.0);
  std::vector<double> d_out(n * k * D), d_w(n * k), dx(n * D, 0.5);
  disp.combine_backward(dy.data(), out.data(), w.data(), d_out.data(), d_w.data(), *state);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t j = 0; j < k; ++j) {
      double dot = 0;
      for (int64_t d = 0; d < D; ++d) dot += dy[t * D + d] * x[t * D + d];
      EXPECT_NEAR(d_w[t * k + j], dot, 1e-14);
    }
  disp.dispatch_backward(d_out.data(), dx.data(), *state);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t d = 0; d < D; ++d)
      EXPECT_NEAR(dx[t * D + d], 0.5 + (w[t * k] + w[t * k + 1]) * dy[t * D + d], 1e-14);
}

TEST(LocalTokenDispatcher, EmptyBatchAndForeignState) {
  LocalTokenDispatcher<float> disp(3);
  auto state = disp.make_state();
  disp.dispatch(nullptr, nullptr, 0, 2, 4, *state);
  EXPECT_EQ(state->num_rows(), 0);
  EXPECT_EQ(state->tokens_per_expert, (std::vector<int64_t>{0, 0, 0}));
  DispatchState<float> foreign;
  EXPECT_THROW(disp.dispatch(nullptr, nullptr, 0, 2, 4, foreign), Error);
  const std::vector<int32_t> bad = {0, 3};
  std::vector<float> x(4);
  EXPECT_THROW(disp.dispatch(x.data(), bad.data(), 1, 2, 4, *state), Error);
}

// --- layer -----------------------------------------------------------------

ModelConfig tiny_config() {
  ModelConfig cfg;
  cfg.hidden = 8;
  cfg.experts = 8;
  cfg.moe_ffn_hidden = 4;
  cfg.shared_experts = 1;
  cfg.top_k = 2;
  // Larger than a training init so router logits are spread out (top-k margins
  // well above the finite-difference perturbation) and outputs are O(1).
  cfg.init_std = 0.5;
  cfg.bias_update_speed = 0.01;
  return cfg;
}

TEST(MoELayer, ParametersHaveTheGlobalNamesShapesAndFlags) {
  ModelConfig cfg = tiny_config();
  cfg.shared_experts = 2;
  ParameterStore ps(DType::f32);
  MoELayer<float> moe(cfg, 3, ps, 1234);
  const Parameter* rw = ps.find("blocks.3.moe.router.weight");
  const Parameter* rb = ps.find("blocks.3.moe.router.bias");
  ASSERT_TRUE(rw && rb);
  EXPECT_EQ(rw->value.shape(), (Shape{8, 8}));
  EXPECT_TRUE(rw->trainable);
  EXPECT_EQ(rb->value.shape(), (Shape{8}));
  EXPECT_FALSE(rb->trainable);
  EXPECT_FALSE(rb->weight_decay);
  for (int e = 0; e < 8; ++e) {
    const Parameter* gu = ps.find("blocks.3.moe.experts." + std::to_string(e) + ".gate_up");
    const Parameter* dn = ps.find("blocks.3.moe.experts." + std::to_string(e) + ".down");
    ASSERT_TRUE(gu && dn);
    EXPECT_EQ(gu->value.shape(), (Shape{8, 8}));
    EXPECT_EQ(dn->value.shape(), (Shape{8, 4}));
    EXPECT_EQ(gu->expert_id, e);
    EXPECT_EQ(dn->expert_id, e);
  }
  const Parameter* sgu = ps.find("blocks.3.moe.shared.gate_up");
  const Parameter* sdn = ps.find("blocks.3.moe.shared.down");
  ASSERT_TRUE(sgu && sdn);
  EXPECT_EQ(sgu->value.shape(), (Shape{16, 8}));
  EXPECT_EQ(sdn->value.shape(), (Shape{8, 8}));
  EXPECT_EQ(sgu->expert_id, -1);
  EXPECT_EQ(ps.all().size(), 2u + 16u + 2u);

  ModelConfig no_shared = tiny_config();
  no_shared.shared_experts = 0;
  ParameterStore ps2(DType::f32);
  MoELayer<float> moe2(no_shared, 0, ps2, 1234);
  EXPECT_EQ(ps2.find("blocks.0.moe.shared.gate_up"), nullptr);
  EXPECT_EQ(moe2.shared_gate_up(), nullptr);

  ParameterStore wrong(DType::f64);
  EXPECT_THROW(MoELayer<float>(cfg, 0, wrong, 1), Error);
}

// A dispatcher holding only the given logical experts (any order, not
// necessarily contiguous): parameters exist only for those, with the same values
// as in a layer that owns them all. Only construction is exercised, so the data
// path is never called.
class SubsetDispatcher final : public TokenDispatcher<float> {
 public:
  SubsetDispatcher(int64_t E, std::vector<int64_t> ids) : E_(E), ids_(std::move(ids)) {}
  int64_t experts() const override { return E_; }
  const std::vector<int64_t>& local_expert_ids() const override { return ids_; }
  std::unique_ptr<DispatchState<float>> make_state() const override { return nullptr; }
  void dispatch(const float*, const int32_t*, int64_t, int64_t, int64_t,
                DispatchState<float>&) override {}
  void combine(const float*, const float*, float*, DispatchState<float>&) override {}
  void combine_backward(const float*, const float*, const float*, float*, float*,
                        DispatchState<float>&) override {}
  void dispatch_backward(const float*, float*, DispatchState<float>&) override {}

 private:
  int64_t E_;
  std::vector<int64_t> ids_;
};

TEST(MoELayer, LocalExpertIdsDecideWhichExpertsExist) {
  const ModelConfig cfg = tiny_config();
  SubsetDispatcher sub(8, {6, 1});
  ParameterStore part(DType::f32), whole(DType::f32);
  MoELayer<float> moe_part(cfg, 1, part, 77, &sub);
  MoELayer<float> moe_whole(cfg, 1, whole, 77);
  EXPECT_EQ(part.find("blocks.1.moe.experts.0.gate_up"), nullptr);
  EXPECT_EQ(part.find("blocks.1.moe.experts.5.down"), nullptr);
  for (int e : {6, 1}) {
    for (const char* kind : {".gate_up", ".down"}) {
      const std::string name = "blocks.1.moe.experts." + std::to_string(e) + kind;
      const Parameter* a = part.find(name);
      const Parameter* b = whole.find(name);
      ASSERT_TRUE(a && b) << name;
      EXPECT_EQ(std::memcmp(a->value.raw(), b->value.raw(), a->value.nbytes()), 0) << name;
    }
  }
  ASSERT_EQ(moe_part.local_experts(), 2);
  EXPECT_EQ(moe_part.local_expert_id(0), 6);
  EXPECT_EQ(moe_part.local_expert_id(1), 1);
  EXPECT_EQ(moe_part.expert_gate_up(0)->expert_id, 6);
  EXPECT_EQ(moe_part.expert_down(1)->expert_id, 1);

  SubsetDispatcher wrong_e(16, {0, 1});
  ParameterStore ps(DType::f32);
  EXPECT_THROW(MoELayer<float>(cfg, 1, ps, 77, &wrong_e), Error);
  SubsetDispatcher duplicate(8, {3, 3});
  ParameterStore ps2(DType::f32);
  EXPECT_THROW(MoELayer<float>(cfg, 1, ps2, 77, &duplicate), Error);
  SubsetDispatcher out_of_range(8, {8});
  ParameterStore ps3(DType::f32);
  EXPECT_THROW(MoELayer<float>(cfg, 1, ps3, 77, &out_of_range), Error);
}

struct LayerGradCase {
  const char* name;
  const char* score_func;
  int64_t n_groups, topk_groups, top_k, shared;
  double aux_alpha;
  double scaling;
  bool norm;
};

class MoEGrad : public ::testing::TestWithParam<LayerGradCase> {};

// Loss = <g, y> + aux_scale * aux. Checks dx and every trainable parameter.
TEST_P(MoEGrad, EndToEndMatchesFiniteDifferences) {
  const LayerGradCase p = GetParam();
  ModelConfig cfg = tiny_config();
  cfg.score_func = p.score_func;
  cfg.n_groups = p.n_groups;
  cfg.topk_groups = p.topk_groups;
  cfg.top_k = p.top_k;
  cfg.shared_experts = p.shared;
  cfg.aux_loss_alpha = p.aux_alpha;
  cfg.routed_scaling_factor = p.scaling;
  cfg.norm_topk_prob = p.norm;
  const int64_t batch = 2, seq = 6, n = batch * seq, D = cfg.hidden;
  const double aux_scale = 0.5;

  bool done = false;
  for (uint64_t seed = 1; seed < 10 && !done; ++seed) {
    ParameterStore ps(DType::f64);
    MoELayer<double> moe(cfg, 2, ps, seed);
    // A non-zero balancing bias, so selection and weights use different scores.
    double* bias = moe.router_bias()->w<double>();
    for (int64_t e = 0; e < cfg.experts; ++e) bias[e] = 0.05 * ((e * 5) % 7 - 3);
    auto x = random_vec<double>(n * D, 100 + seed, 1.0);
    const auto g = random_vec<double>(n * D, 200 + seed, 1.0);

    MoELayer<double>::Cache cache;
    std::vector<double> y(n * D), dx(n * D);
    moe.forward(x.data(), y.data(), n, seq, cache);
    const std::vector<int32_t> chosen(cache.router.expert.begin(),
                                      cache.router.expert.begin() + n * p.top_k);
    moe.backward(g.data(), dx.data(), cache, aux_scale);

    std::vector<std::vector<double>> grads;
    std::vector<GradTarget> targets = param_targets(ps, grads);
    targets.push_back({x.data(), n * D, dx.data(), "x"});

    bool flipped = false;
    MoELayer<double>::Cache c2;
    std::vector<double> y2(n * D);
    auto loss = [&] {
      const double aux = moe.forward(x.data(), y2.data(), n, seq, c2);
      if (!std::equal(chosen.begin(), chosen.end(), c2.router.expert.begin())) flipped = true;
      double l = aux_scale * aux;
      for (int64_t i = 0; i < n * D; ++i) l += g[i] * y2[i];
      return l;
    };
    const auto rep = grad_check(loss, targets);
    if (flipped) continue;  // regenerate: a selection flipped under the perturbation
    EXPECT_LE(rep.max_rel_error, 1e-6) << rep.summary();
    std::printf("  %s (seed %d): %s\n", p.name, int(seed), rep.summary().c_str());
    EXPECT_EQ(moe.router_bias()->g<double>()[0], 0.0);  // no gradient into the bias
    done = true;
  }
  EXPECT_TRUE(done) << "every seed flipped a selection under perturbation";
}

INSTANTIATE_TEST_SUITE_P(
    Variants, MoEGrad,
    ::testing::Values(
        LayerGradCase{"softmax", "softmax", 1, 1, 2, 1, 0.0, 1.0, true},
        LayerGradCase{"softmax_aux", "softmax", 1, 1, 2, 1, 0.01, 1.0, true},
        LayerGradCase{"sigmoid_aux_groups", "sigmoid", 4, 2, 3, 1, 0.01, 2.5, true},
        LayerGradCase{"sigmoid_groups_noaux", "sigmoid", 4, 2, 2, 2, 0.0, 2.5, true},
        LayerGradCase{"softmax_groups_nonorm_noshared", "softmax", 2, 1, 3, 0, 0.01, 1.0,
                      false},
        LayerGradCase{"top1", "softmax", 1, 1, 1, 1, 0.0, 1.0, true}),
    [](const ::testing::TestParamInfo<LayerGradCase>& info) { return info.param.name; });

TEST(MoELayer, ExpertsWithoutTokensAreSkippedAndGetZeroGradient) {
  ModelConfig cfg = tiny_config();
  const int64_t n = 16, D = cfg.hidden;
  ParameterStore ps(DType::f64);
  MoELayer<double> moe(cfg, 1, ps, 5);
  // Expert 6 and 7 are made unselectable through the balancing bias.
  moe.router_bias()->w<double>()[6] = -10.0;
  moe.router_bias()->w<double>()[7] = -10.0;
  const auto x = random_vec<double>(n * D, 9, 1.0);
  const auto g = random_vec<double>(n * D, 10, 1.0);
  MoELayer<double>::Cache cache;
  std::vector<double> y(n * D), dx(n * D);
  moe.forward(x.data(), y.data(), n, n, cache);
  const auto& counts = moe.expert_counts(cache);
  ASSERT_EQ(counts.size(), 8u);
  EXPECT_EQ(counts[6], 0);
  EXPECT_EQ(counts[7], 0);
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  EXPECT_EQ(total, n * cfg.top_k);
  moe.backward(g.data(), dx.data(), cache, 1.0);
  for (int e : {6, 7}) {
    const Parameter* gu = moe.expert_gate_up(e);
    const Parameter* dn = moe.expert_down(e);
    for (int64_t i = 0; i < gu->numel(); ++i) ASSERT_EQ(gu->g<double>()[i], 0.0);
    for (int64_t i = 0; i < dn->numel(); ++i) ASSERT_EQ(dn->g<double>()[i], 0.0);
  }
  for (double v : y) ASSERT_TRUE(std::isfinite(v));
}

TEST(MoELayer, CacheReuseAcrossSizesGivesFreshResults) {
  const ModelConfig cfg = tiny_config();
  const int64_t D = cfg.hidden;
  ParameterStore ps(DType::f32);
  MoELayer<float> moe(cfg, 1, ps, 5);
  const auto x_big = random_vec<float>(32 * D, 1, 1.0);
  const auto x = random_vec<float>(8 * D, 2, 1.0);
  MoELayer<float>::Cache reused, fresh;
  std::vector<float> y_big(32 * D), y1(8 * D), y2(8 * D);
  moe.forward(x_big.data(), y_big.data(), 32, 8, reused);
  moe.forward(x.data(), y1.data(), 8, 8, reused);
  moe.forward(x.data(), y2.data(), 8, 8, fresh);
  EXPECT_EQ(std::memcmp(y1.data(), y2.data(), sizeof(float) * y1.size()), 0);
  EXPECT_EQ(moe.expert_counts(reused), moe.expert_counts(fresh));
  EXPECT_THROW(moe.forward(x.data(), y1.data(), 8, 3, fresh), Error);  // not whole sequences
}

TEST(MoELayer, BiasUpdateMovesSkewedLoadTowardBalance) {
  ModelConfig cfg = tiny_config();
  cfg.score_func = "sigmoid";
  cfg.bias_update_speed = 0.01;
  const int64_t n = 256, D = cfg.hidden, E = cfg.experts;
  ParameterStore ps(DType::f32);
  MoELayer<float> moe(cfg, 1, ps, 11);
  // Skew: inputs share a common direction that the router maps strongly onto experts 0 and 1.
  float* wr = moe.router_weight()->w<float>();
  for (int64_t d = 0; d < D; ++d) {
    wr[0 * D + d] += 0.8f;
    wr[1 * D + d] += 0.6f;
  }
  auto x = random_vec<float>(n * D, 3, 0.5);
  for (auto& v : x) v += 0.5f;
  MoELayer<float>::Cache cache;
  std::vector<float> y(n * D);
  auto imbalance = [&] {
    moe.forward(x.data(), y.data(), n, n, cache);
    const auto& c = moe.expert_counts(cache);
    const double mean = double(n * cfg.top_k) / E;
    return double(*std::max_element(c.begin(), c.end())) / mean;
  };
  const double before = imbalance();
  const std::vector<float> weights_before(cache.router.weight.begin(),
                                          cache.router.weight.begin() + n * cfg.top_k);
  EXPECT_GT(before, 2.0) << "the test needs a skewed start";
  double after = before;
  for (int step = 0; step < 300; ++step) {
    after = imbalance();
    moe.update_bias(moe.expert_counts(cache).data());
  }
  after = imbalance();
  EXPECT_LT(after, 1.5) << "max/mean load before " << before;
  EXPECT_LT(after, before);
  // The bias is the only thing that moved: not trainable, no gradient involved.
  const float* b = moe.router_bias()->w<float>();
  EXPECT_LT(b[0], 0.0f);
  EXPECT_LT(b[1], 0.0f);
}

TEST(MoELayer, UpdateBiasIsSignOfDeviationFromMean) {
  ModelConfig cfg = tiny_config();
  cfg.experts = 4;
  cfg.bias_update_speed = 0.25;
  ParameterStore ps(DType::f64);
  MoELayer<double> moe(cfg, 0, ps, 1);
  const int64_t counts[4] = {10, 2, 4, 0};  // mean 4
  moe.update_bias(counts);
  const double* b = moe.router_bias()->w<double>();
  EXPECT_EQ(b[0], -0.25);
  EXPECT_EQ(b[1], 0.25);
  EXPECT_EQ(b[2], 0.0);
  EXPECT_EQ(b[3], 0.25);
}

// Bitwise identical forward and backward with 1 and 2 OpenMP threads.
TEST(MoELayer, DeterministicAcrossThreadCounts) {
  ModelConfig cfg = tiny_config();
  cfg.hidden = 64;
  cfg.moe_ffn_hidden = 32;
  cfg.experts = 8;
  cfg.top_k = 2;
  cfg.score_func = "sigmoid";
  cfg.n_groups = 4;
  cfg.topk_groups = 2;
  cfg.aux_loss_alpha = 0.01;
  cfg.init_std = 0.1;
  const int64_t seq = 128, n = 16 * seq, D = cfg.hidden;  // n * E reaches the parallel paths
  const auto x = random_vec<float>(n * D, 21, 1.0);
  const auto g = random_vec<float>(n * D, 22, 1.0);
  struct Result {
    std::vector<float> y, dx, grads;
    double aux;
  };
  auto run = [&](int threads) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    ParameterStore ps(DType::f32);
    MoELayer<float> moe(cfg, 1, ps, 8);
    MoELayer<float>::Cache cache;
    Result r;
    r.y.resize(n * D);
    r.dx.resize(n * D);
    r.aux = moe.forward(x.data(), r.y.data(), n, seq, cache);
    moe.backward(g.data(), r.dx.data(), cache, 0.5f);
    for (const auto& p : ps.all())
      r.grads.insert(r.grads.end(), p->g<float>(), p->g<float>() + p->numel());
    omp_set_num_threads(saved);
    return r;
  };
  const Result a = run(1), b = run(2);
  EXPECT_EQ(std::memcmp(a.y.data(), b.y.data(), sizeof(float) * a.y.size()), 0);
  EXPECT_EQ(std::memcmp(a.dx.data(), b.dx.data(), sizeof(float) * a.dx.size()), 0);
  ASSERT_EQ(a.grads.size(), b.grads.size());
  EXPECT_EQ(std::memcmp(a.grads.data(), b.grads.data(), sizeof(float) * a.grads.size()), 0);
  EXPECT_EQ(a.aux, b.aux);
}

}  // namespace
}  // namespace sadari
