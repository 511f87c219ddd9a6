// AdamW against a hand-written double-precision reference: bias correction, eps,
// decoupled weight decay only where Parameter::weight_decay is set, and parameters
// with trainable == false (the router bias) never touched.
#include "optim/adamw.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"

namespace sadari {
namespace {

// The reference state of one parameter, kept in double.
struct RefParam {
  std::vector<double> w, m, v;
  bool decay;
};

// One AdamW update as written in the literature (Loshchilov & Hutter, decoupled):
//   w <- w - lr*wd*w;  m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2
//   w <- w - lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
void reference_step(RefParam& p, const std::vector<double>& g, const OptimConfig& o, double lr, int t) {
  for (size_t j = 0; j < p.w.size(); ++j) {
    if (p.decay) p.w[j] -= lr * o.weight_decay * p.w[j];
    p.m[j] = o.beta1 * p.m[j] + (1 - o.beta1) * g[j];
    p.v[j] = o.beta2 * p.v[j] + (1 - o.beta2) * g[j] * g[j];
    const double m_hat = p.m[j] / (1 - std::pow(o.beta1, t));
    const double v_hat = p.v[j] / (1 - std::pow(o.beta2, t));
    p.w[j] -= lr * m_hat / (std::sqrt(v_hat) + o.eps);
  }
}

void set(Parameter* p, const std::vector<float>& w, const std::vector<float>& g) {
  ASSERT_EQ(static_cast<size_t>(p->numel()), w.size());
  ASSERT_EQ(w.size(), g.size());
  for (size_t j = 0; j < w.size(); ++j) {
    p->w<float>()[j] = w[j];
    p->g<float>()[j] = g[j];
  }
}

void set_grad(Parameter* p, const std::vector<float>& g) {
  for (size_t j = 0; j < g.size(); ++j) p->g<float>()[j] = g[j];
}

void expect_near_values(const Parameter* p, const std::vector<double>& want, const char* what) {
  for (size_t j = 0; j < want.size(); ++j)
    EXPECT_NEAR(p->w<float>()[j], want[j], 2e-6 * std::max(1.0, std::fabs(want[j])))
        << what << " element " << j;
}

OptimConfig config() {
  OptimConfig o;
  o.beta1 = 0.9;
  o.beta2 = 0.95;
  o.eps = 1e-8;
  o.weight_decay = 0.1;
  return o;
}

TEST(AdamW, FirstStepByHand) {
  // After one step m_hat = g and v_hat = g^2, so the step is lr * g / (|g| + eps):
  // almost exactly lr * sign(g). Numbers worked out by hand.
  ParameterStore store(DType::f32);
  Parameter* w = store.add("w", {2}, Init::zeros, 0, 1);
  Parameter* norm = store.add("norm", {1}, Init::zeros, 0, 1, /*weight_decay=*/false);
  set(w, {1.0f, -2.0f}, {0.5f, -3.0f});
  set(norm, {1.0f}, {-0.25f});
  AdamW opt(config(), store);
  opt.step(0.1);
  EXPECT_EQ(opt.steps_taken(), 1);
  // w: decayed by 1 - 0.1*0.1 = 0.99, then minus 0.1 * sign(g).
  EXPECT_NEAR(w->w<float>()[0], 0.99 - 0.1, 1e-6);
  EXPECT_NEAR(w->w<float>()[1], -1.98 + 0.1, 1e-6);
  // norm: no decay; the gradient is negative, so it rises by lr.
  EXPECT_NEAR(norm->w<float>()[0], 1.1, 1e-6);
}

TEST(AdamW, EpsMattersForSmallGradients) {
  // |g| = eps: the first step is lr * g / (|g| + eps) = lr / 2, not lr.
  OptimConfig o = config();
  o.eps = 1e-3;
  o.weight_decay = 0;
  ParameterStore store(DType::f32);
  Parameter* w = store.add("w", {2}, Init::zeros, 0, 1);
  set(w, {0.0f, 0.0f}, {1e-3f, -1e-3f});
  AdamW opt(o, store);
  opt.step(0.2);
  EXPECT_NEAR(w->w<float>()[0], -0.1, 1e-6);
  EXPECT_NEAR(w->w<float>()[1], 0.1, 1e-6);
}

TEST(AdamW, SeveralStepsMatchReference) {
  OptimConfig o = config();
  o.eps = 1e-4;  // large enough to matter for the small gradients below
  o.weight_decay = 0.3;
  ParameterStore store(DType::f32);
  Parameter* w = store.add("blocks.0.attn.wq", {2, 3}, Init::zeros, 0, 1);
  Parameter* norm = store.add("blocks.0.attn_norm", {3}, Init::zeros, 0, 1, /*weight_decay=*/false);
  Parameter* bias = store.add("blocks.1.moe.router.bias", {3}, Init::zeros, 0, 1, false, /*trainable=*/false);

  std::vector<float> w0 = {0.5f, -0.25f, 1.5f, -2.0f, 0.125f, 0.75f};
  std::vector<float> n0 = {1.0f, 0.9f, 1.1f};
  std::vector<float> b0 = {0.01f, -0.02f, 0.03f};
  set(w, w0, std::vector<float>(6, 0.0f));
  set(norm, n0, std::vector<float>(3, 0.0f));
  set(bias, b0, {5.0f, -5.0f, 7.0f});  // non-zero gradients that must be ignored

  RefParam rw{{w0.begin(), w0.end()}, std::vector<double>(6), std::vector<double>(6), true};
  RefParam rn{{n0.begin(), n0.end()}, std::vector<double>(3), std::vector<double>(3), false};

  AdamW opt(o, store);
  EXPECT_EQ(opt.first_moments().size(), 2u) << "moments only for trainable parameters";
  EXPECT_EQ(opt.second_moments().size(), 2u);

  const double lrs[] = {0.01, 0.02, 0.05, 0.03, 0.001, 0.04};
  for (int t = 1; t <= 6; ++t) {
    // Gradients that change sign and scale from step to step; some elements zero.
    std::vector<float> gw(6), gn(3);
    for (int j = 0; j < 6; ++j) gw[j] = static_cast<float>(((j * 7 + t * 3) % 11 - 5) * 1e-4 * t);
    for (int j = 0; j < 3; ++j) gn[j] = static_cast<float>(((j + t) % 3 - 1) * 0.3);
    set_grad(w, gw);
    set_grad(norm, gn);
    opt.step(lrs[t - 1]);
    reference_step(rw, {gw.begin(), gw.end()}, o, lrs[t - 1], t);
    reference_step(rn, {gn.begin(), gn.end()}, o, lrs[t - 1], t);
    expect_near_values(w, rw.w, "weight");
    expect_near_values(norm, rn.w, "norm");
    for (int j = 0; j < 3; ++j) EXPECT_EQ(bias->w<float>()[j], b0[j]) << "router bias moved at step " << t;
  }
  EXPECT_EQ(opt.steps_taken(), 6);
  // The moments are the reference's too (checkpoints save them).
  for (int j = 0; j < 6; ++j) {
    EXPECT_NEAR(opt.first_moments()[0].data<float>()[j], rw.m[j], 1e-9);
    EXPECT_NEAR(opt.second_moments()[0].data<float>()[j], rw.v[j], 1e-12);
  }
}

TEST(AdamW, WeightDecayOnlyWhereEnabled) {
  // Zero gradients: m = v = 0, so the Adam part is 0 and only decay acts.
  OptimConfig o = config();
  o.weight_decay = 0.5;
  ParameterStore store(DType::f32);
  Parameter* w = store.add("w", {2}, Init::zeros, 0, 1);
  Parameter* norm = store.add("norm", {2}, Init::zeros, 0, 1, /*weight_decay=*/false);
  set(w, {2.0f, -4.0f}, {0.0f, 0.0f});
  set(norm, {2.0f, -4.0f}, {0.0f, 0.0f});
  AdamW opt(o, store);
  opt.step(0.1);  // factor 1 - 0.1 * 0.5 = 0.95
  opt.step(0.2);  // factor 1 - 0.2 * 0.5 = 0.9
  EXPECT_NEAR(w->w<float>()[0], 2.0 * 0.95 * 0.9, 1e-6);
  EXPECT_NEAR(w->w<float>()[1], -4.0 * 0.95 * 0.9, 1e-6);
  EXPECT_EQ(norm->w<float>()[0], 2.0f);
  EXPECT_EQ(norm->w<float>()[1], -4.0f);
}

TEST(AdamW, UntrainableParameterUntouched) {
  ParameterStore store(DType::f32);
  Parameter* bias = store.add("router.bias", {4}, Init::zeros, 0, 1, /*weight_decay=*/true, /*trainable=*/false);
  set(bias, {0.1f, 0.2f, -0.3f, 0.4f}, {1.0f, -1.0f, 2.0f, 3.0f});
  AdamW opt(config(), store);
  EXPECT_TRUE(opt.first_moments().empty());
  for (int t = 0; t < 3; ++t) opt.step(0.5);
  const float want[] = {0.1f, 0.2f, -0.3f, 0.4f};
  for (int j = 0; j < 4; ++j) EXPECT_EQ(bias->w<float>()[j], want[j]);
}

TEST(AdamW, RejectsNonF32Store) {
  ParameterStore store(DType::f64);
  store.add("w", {2}, Init::zeros, 0, 1);
  EXPECT_THROW(AdamW(config(), store), Error);
}

}  // namespace
}  // namespace sadari
