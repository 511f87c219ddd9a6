// Router: selection on hand-built scores, gate weights, and gradient checks of the
// logits -> weights map and of the sequence-wise auxiliary loss.
#include "model/router.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "tests/model/grad_check.h"

namespace sadari {
namespace {

RouterOptions opts(int64_t E, int64_t K, ScoreFunc f, int64_t groups = 1, int64_t topk_groups = 1,
                   bool norm = true, double scale = 1.0) {
  RouterOptions o;
  o.experts = E;
  o.top_k = K;
  o.score_func = f;
  o.n_groups = groups;
  o.topk_groups = topk_groups;
  o.norm_topk_prob = norm;
  o.routed_scaling_factor = scale;
  return o;
}

std::vector<double> softmax_of(const std::vector<double>& l) {
  double m = l[0];
  for (double v : l) m = std::max(m, v);
  double z = 0;
  for (double v : l) z += std::exp(v - m);
  std::vector<double> s;
  for (double v : l) s.push_back(std::exp(v - m) / z);
  return s;
}

double sigmoid_of(double x) { return 1.0 / (1.0 + std::exp(-x)); }

TEST(Router, TopKPicksLargestInOrderWithNormalisedWeights) {
  Router<double> r(opts(6, 2, ScoreFunc::softmax));
  RouterCache<double> c;
  const std::vector<double> logits = {0.1, 2.0, -1.0, 3.0, 0.5, 1.9,   // token 0
                                      1.0, 1.0, 1.0, 1.0, 1.0, 4.0};  // token 1
  r.route_logits(logits.data(), nullptr, 2, c);
  EXPECT_EQ(c.expert[0], 3);
  EXPECT_EQ(c.expert[1], 1);
  EXPECT_EQ(c.expert[2], 5);
  EXPECT_EQ(c.expert[3], 0);  // tie among 0..4: the lowest index
  const auto s0 = softmax_of({0.1, 2.0, -1.0, 3.0, 0.5, 1.9});
  EXPECT_NEAR(c.weight[0], s0[3] / (s0[3] + s0[1]), 1e-15);
  EXPECT_NEAR(c.weight[1], s0[1] / (s0[3] + s0[1]), 1e-15);
  EXPECT_NEAR(c.weight[2] + c.weight[3], 1.0, 1e-15);
  for (int e = 0; e < 6; ++e) EXPECT_NEAR(c.scores[e], s0[e], 1e-15);
}

TEST(Router, TiesGoToLowerExpertIndex) {
  Router<float> r(opts(5, 3, ScoreFunc::sigmoid));
  RouterCache<float> c;
  const std::vector<float> logits = {0.5f, 1.0f, 0.5f, 1.0f, 0.5f};
  r.route_logits(logits.data(), nullptr, 1, c);
  EXPECT_EQ(c.expert[0], 1);
  EXPECT_EQ(c.expert[1], 3);
  EXPECT_EQ(c.expert[2], 0);
}

// Two groups of four. Plain top-2 would take experts 0 and 4 (one per group).
// Group scores: softmax uses the group maximum -> group 0 wins (5 > 4.9);
// sigmoid sums the two best of each group -> group 1 wins (s(4.9)+s(4.8) > s(5)+s(0)).
const std::vector<double> kGroupLogits = {5.0, 0.0, -1.0, -2.0, 4.9, 4.8, -1.0, -2.0};

TEST(Router, PlainTopKCrossesGroups) {
  Router<double> r(opts(8, 2, ScoreFunc::sigmoid));
  RouterCache<double> c;
  r.route_logits(kGroupLogits.data(), nullptr, 1, c);
  EXPECT_EQ(c.expert[0], 0);
  EXPECT_EQ(c.expert[1], 4);
}

TEST(Router, GroupLimitedSigmoidUsesTopTwoSum) {
  Router<double> r(opts(8, 2, ScoreFunc::sigmoid, /*groups=*/2, /*topk_groups=*/1));
  RouterCache<double> c;
  r.route_logits(kGroupLogits.data(), nullptr, 1, c);
  EXPECT_EQ(c.expert[0], 4);
  EXPECT_EQ(c.expert[1], 5);
  const double a = sigmoid_of(4.9), b = sigmoid_of(4.8);
  EXPECT_NEAR(c.weight[0], a / (a + b), 1e-15);
  EXPECT_NEAR(c.weight[1], b / (a + b), 1e-15);
}

TEST(Router, GroupLimitedSoftmaxUsesGroupMax) {
  Router<double> r(opts(8, 2, ScoreFunc::softmax, 2, 1));
  RouterCache<double> c;
  r.route_logits(kGroupLogits.data(), nullptr, 1, c);
  EXPECT_EQ(c.expert[0], 0);
  EXPECT_EQ(c.expert[1], 1);
}

TEST(Router, GroupLimitedKeepsSeveralGroups) {
  // Four groups of two, keep two groups, pick three experts: must come from the
  // two best groups even where a third group holds a larger single score.
  Router<double> r(opts(8, 3, ScoreFunc::sigmoid, 4, 2));
  RouterCache<double> c;
  const std::vector<double> logits = {3.0, 2.9, 4.0, -5.0, 2.8, 2.7, -1.0, -1.0};
  // group sums: g0 = s(3)+s(2.9), g1 = s(4)+s(-5), g2 = s(2.8)+s(2.7), g3 small -> g0, g2.
  r.route_logits(logits.data(), nullptr, 1, c);
  EXPECT_EQ(c.expert[0], 0);
  EXPECT_EQ(c.expert[1], 1);
  EXPECT_EQ(c.expert[2], 4);
}

TEST(Router, BiasChangesSelectionButNotWeights) {
  Router<double> r(opts(4, 2, ScoreFunc::softmax));
  RouterCache<double> c;
  const std::vector<double> logits = {2.0, 1.0, 0.0, -1.0};
  const auto s = softmax_of(logits);
  r.route_logits(logits.data(), nullptr, 1, c);
  EXPECT_EQ(c.expert[0], 0);
  EXPECT_EQ(c.expert[1], 1);
  const std::vector<double> bias = {0.0, 0.0, 0.0, 1.0};  // lifts expert 3 above all
  r.route_logits(logits.data(), bias.data(), 1, c);
  EXPECT_EQ(c.expert[0], 3);
  EXPECT_EQ(c.expert[1], 0);
  EXPECT_NEAR(c.weight[0], s[3] / (s[3] + s[0]), 1e-15);  // unbiased scores
  EXPECT_NEAR(c.weight[1], s[0] / (s[3] + s[0]), 1e-15);
  for (int e = 0; e < 4; ++e) EXPECT_NEAR(c.scores[e], s[e], 1e-15);
}

TEST(Router, ScalingFactorAndNoNormalisation) {
  const std::vector<double> logits = {0.3, -0.2, 1.5, 0.7};
  RouterCache<double> c;
  Router<double> raw(opts(4, 2, ScoreFunc::sigmoid, 1, 1, /*norm=*/false, /*scale=*/2.5));
  raw.route_logits(logits.data(), nullptr, 1, c);
  EXPECT_EQ(c.expert[0], 2);
  EXPECT_EQ(c.expert[1], 3);
  EXPECT_NEAR(c.weight[0], 2.5 * sigmoid_of(1.5), 1e-15);
  EXPECT_NEAR(c.weight[1], 2.5 * sigmoid_of(0.7), 1e-15);

  Router<double> norm(opts(4, 2, ScoreFunc::sigmoid, 1, 1, /*norm=*/true, /*scale=*/2.5));
  norm.route_logits(logits.data(), nullptr, 1, c);
  const double a = sigmoid_of(1.5), b = sigmoid_of(0.7);
  EXPECT_NEAR(c.weight[0], 2.5 * a / (a + b), 1e-15);
  EXPECT_NEAR(c.weight[1], 2.5 * b / (a + b), 1e-15);
}

TEST(Router, TopOneIsNotNormalised) {
  // With K = 1 normalising would make the weight the constant c and cut the
  // router off from the loss gradient; DeepSeek's code skips it, so do we.
  Router<double> r(opts(4, 1, ScoreFunc::softmax, 1, 1, true, 1.0));
  RouterCache<double> c;
  const std::vector<double> logits = {0.3, -0.2, 1.5, 0.7};
  r.route_logits(logits.data(), nullptr, 1, c);
  EXPECT_EQ(c.expert[0], 2);
  EXPECT_NEAR(c.weight[0], softmax_of(logits)[2], 1e-15);
}

TEST(Router, OptionsAreValidatedWithTheKey) {
  ModelConfig cfg;
  cfg.experts = 8;
  cfg.n_groups = 3;
  try {
    RouterOptions::from(cfg);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "model.n_groups");
  }
  cfg.n_groups = 4;
  cfg.topk_groups = 1;
  cfg.top_k = 3;  // only 2 experts in one group
  EXPECT_THROW(RouterOptions::from(cfg), Error);
  cfg.top_k = 2;
  cfg.score_func = "relu";
  EXPECT_THROW(RouterOptions::from(cfg), Error);
  cfg.score_func = "sigmoid";
  EXPECT_NO_THROW(RouterOptions::from(cfg));
}

// --- gradients --------------------------------------------------------------

std::vector<double> random_vec(int64_t n, uint64_t seed, double scale) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = scale * normal(seed, stream_key("router_test"), i);
  return v;
}

struct RouterGradCase {
  const char* name;
  ScoreFunc f;
  int64_t groups, topk_groups, K;
  bool norm;
  double scale;
};

class RouterGrad : public ::testing::TestWithParam<RouterGradCase> {};

// Loss = sum g . w (+ sum h . s, so the d_scores_extra path is covered too).
TEST_P(RouterGrad, LogitsToWeightsMatchesFiniteDifferences) {
  const RouterGradCase p = GetParam();
  const int64_t n = 12, E = 8;
  Router<double> r(opts(E, p.K, p.f, p.groups, p.topk_groups, p.norm, p.scale));
  const auto bias = random_vec(E, 99, 0.05);
  const auto g = random_vec(n * p.K, 5, 1.0);
  const auto h = random_vec(n * E, 6, 1.0);
  bool done = false;
  for (uint64_t seed = 1; seed < 20 && !done; ++seed) {
    auto logits = random_vec(n * E, seed, 1.5);
    RouterCache<double> c;
    r.route_logits(logits.data(), bias.data(), n, c);
    const std::vector<int32_t> chosen(c.expert.begin(), c.expert.begin() + n * p.K);
    std::vector<double> d_logits(n * E);
    r.backward(g.data(), h.data(), c, d_logits.data());
    bool flipped = false;
    auto loss = [&] {
      RouterCache<double> cc;
      r.route_logits(logits.data(), bias.data(), n, cc);
      if (!std::equal(chosen.begin(), chosen.end(), cc.expert.begin())) flipped = true;
      double l = 0;
      for (int64_t i = 0; i < n * p.K; ++i) l += g[i] * cc.weight[i];
      for (int64_t i = 0; i < n * E; ++i) l += h[i] * cc.scores[i];
      return l;
    };
    const auto rep = grad_check(loss, {{logits.data(), n * E, d_logits.data(), "logits"}});
    if (flipped) continue;  // a selection changed under the perturbation: try other inputs
    EXPECT_LE(rep.max_rel_error, 1e-6) << rep.summary();
    done = true;
  }
  EXPECT_TRUE(done) << "every seed flipped a selection under perturbation";
}

INSTANTIATE_TEST_SUITE_P(
    Variants, RouterGrad,
    ::testing::Values(RouterGradCase{"softmax", ScoreFunc::softmax, 1, 1, 2, true, 1.0},
                      RouterGradCase{"softmax_nonorm", ScoreFunc::softmax, 1, 1, 3, false, 1.0},
                      RouterGradCase{"softmax_groups", ScoreFunc::softmax, 4, 2, 3, true, 2.0},
                      RouterGradCase{"sigmoid", ScoreFunc::sigmoid, 1, 1, 2, true, 2.5},
                      RouterGradCase{"sigmoid_nonorm", ScoreFunc::sigmoid, 1, 1, 2, false, 1.0},
                      RouterGradCase{"sigmoid_groups", ScoreFunc::sigmoid, 4, 2, 3, true, 2.5},
                      RouterGradCase{"sigmoid_top1", ScoreFunc::sigmoid, 1, 1, 1, true, 1.0}),
    [](const ::testing::TestParamInfo<RouterGradCase>& info) { return info.param.name; });

TEST(SeqAuxLoss, ValueOnHandCase) {
  // Two sequences of two tokens, E = 4, K = 1. Sigmoid-like unnormalised scores
  // so the s' = s / sum normalisation matters.
  const int64_t E = 4, K = 1, T = 2;
  const std::vector<double> s = {0.8, 0.4, 0.4, 0.4,   // seq 0
                                 0.2, 0.6, 0.1, 0.1,   //
                                 0.5, 0.5, 0.5, 0.5,   // seq 1
                                 0.9, 0.1, 0.0, 0.0};
  const std::vector<int32_t> ex = {0, 1, 2, 0};
  std::vector<double> f;
  const double alpha = 0.01;
  const double L = seq_aux_loss_forward<double>(s.data(), ex.data(), 4, T, E, K, alpha, f);
  // seq 0: f = 4/(1*2) * [1,1,0,0] = [2,2,0,0]; s' rows: [.4,.2,.2,.2], [.2,.6,.1,.1]
  //        P = [.3,.4,.15,.15]; sum f P = 0.6 + 0.8 = 1.4
  // seq 1: f = [2,0,2,0]; s' rows: [.25]*4, [.9,.1,0,0]; P = [.575,.175,.125,.125]
  //        sum f P = 1.15 + 0.25 = 1.4
  EXPECT_NEAR(L, alpha * (1.4 + 1.4) / 2, 1e-15);
  EXPECT_NEAR(f[0], 2.0, 1e-15);
  EXPECT_NEAR(f[4 + 2], 2.0, 1e-15);
}

TEST(SeqAuxLoss, BalancedUniformRoutingGivesAlpha) {
  // Uniform scores and perfectly even counts: sum_i f_i P_i = E * (1/E) = 1.
  const int64_t E = 4, K = 2, T = 4;
  std::vector<double> s(T * E, 0.25);
  const std::vector<int32_t> ex = {0, 1, 2, 3, 0, 1, 2, 3};
  std::vector<double> f;
  EXPECT_NEAR(seq_aux_loss_forward<double>(s.data(), ex.data(), T, T, E, K, 0.3, f), 0.3, 1e-15);
}

TEST(SeqAuxLoss, GradientThroughScoresMatchesFiniteDifferences) {
  for (ScoreFunc fn : {ScoreFunc::softmax, ScoreFunc::sigmoid}) {
    const int64_t n = 12, seq = 4, E = 8, K = 2;
    const double alpha = 0.1, scale = 0.75;
    Router<double> r(opts(E, K, fn));
    bool done = false;
    for (uint64_t seed = 1; seed < 20 && !done; ++seed) {
      auto logits = random_vec(n * E, seed, 1.5);
      RouterCache<double> c;
      r.route_logits(logits.data(), nullptr, n, c);
      const std::vector<int32_t> chosen(c.expert.begin(), c.expert.begin() + n * K);
      std::vector<double> f, d_scores(n * E, 0.0), d_logits(n * E), zero_w(n * K, 0.0);
      seq_aux_loss_forward<double>(c.scores.data(), c.expert.data(), n, seq, E, K, alpha, f);
      seq_aux_loss_backward<double>(c.scores.data(), f, n, seq, E, alpha, scale, d_scores.data());
      r.backward(zero_w.data(), d_scores.data(), c, d_logits.data());
      bool flipped = false;
      auto loss = [&] {
        RouterCache<double> cc;
        r.route_logits(logits.data(), nullptr, n, cc);
        if (!std::equal(chosen.begin(), chosen.end(), cc.expert.begin())) flipped = true;
        std::vector<double> ff;
        return scale * seq_aux_loss_forward<double>(cc.scores.data(), cc.expert.data(), n, seq,
                                                    E, K, alpha, ff);
      };
      const auto rep = grad_check(loss, {{logits.data(), n * E, d_logits.data(), "logits"}});
      if (flipped) continue;
      EXPECT_LE(rep.max_rel_error, 1e-6) << rep.summary();
      done = true;
    }
    EXPECT_TRUE(done);
  }
}

}  // namespace
}  // namespace sadari
