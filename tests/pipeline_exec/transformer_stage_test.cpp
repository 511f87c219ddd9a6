// Model stages (model/transformer_stage.h): running stages 0..S-1 in sequence,
// handing the residual stream forward and its gradient back by hand, equals the
// one-process Transformer bit for bit: losses, aux losses, every parameter's
// initial value and gradient. The MoE aux loss of every stage counts with the
// one-process scale.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>

#include "core/rng.h"
#include "model/transformer.h"
#include "model/transformer_stage.h"
#include "tests/pipeline_exec/pipeline_test_model.h"

namespace sadari {
namespace {

ModelConfig small_moe(int64_t layers) { return test::pipeline_test_model(layers, 1); }

std::vector<int32_t> tokens(int64_t n, int64_t vocab, uint64_t stream) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    t[i] = static_cast<int32_t>(uniform_int(99, stream_key("stage_test"), stream * 100000 + i,
                                            static_cast<uint64_t>(vocab)));
  return t;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.numel() == b.numel() &&
         std::memcmp(a.data<float>(), b.data<float>(), static_cast<size_t>(a.numel()) * 4) == 0;
}

// split_backward: each stage runs backward_input, and all backward_weight
// passes run at the end, last stage first (as a zero-bubble schedule may).
void expect_stages_equal_transformer(const ModelConfig& cfg, const std::vector<int64_t>& counts,
                                     bool split_backward = false) {
  const uint64_t seed = 17;
  const int64_t batch = 2, seq = 8, n = batch * seq;
  const float ce_scale = 1.0f / static_cast<float>(n), aux_scale = 0.5f;
  std::vector<int32_t> ids = tokens(n, cfg.vocab_size, 1), targets = tokens(n, cfg.vocab_size, 2);
  targets[3] = -1;  // an ignored position

  Transformer<float> whole(cfg, seed);
  typename Transformer<float>::Cache whole_cache;
  whole.params().zero_grad();
  const ForwardResult want = whole.forward(ids.data(), targets.data(), batch, seq, whole_cache);
  whole.backward(whole_cache, ce_scale, aux_scale);

  ParameterStore store(DType::f32);
  std::vector<std::unique_ptr<TransformerStage<float>>> stages;
  int64_t first = 0;
  for (size_t s = 0; s < counts.size(); ++s) {
    StageSpan span{first, counts[s], s == 0, s + 1 == counts.size()};
    stages.push_back(std::make_unique<TransformerStage<float>>(cfg, span, store, seed));
    first += counts[s];
  }
  store.zero_grad();
  std::vector<typename TransformerStage<float>::Cache> caches(stages.size());
  ForwardResult got;
  const float* x = nullptr;
  for (size_t s = 0; s < stages.size(); ++s) {
    const ForwardResult r = stages[s]->forward(ids.data(), x, targets.data(), batch, seq, caches[s]);
    got.ce_sum += r.ce_sum;
    got.tokens += r.tokens;
    got.aux_loss += r.aux_loss;
    x = stages[s]->output(caches[s]);
  }
  const float* d = nullptr;
  for (size_t s = stages.size(); s-- > 0;) {
    if (split_backward)
      stages[s]->backward_input(d, caches[s], ce_scale, aux_scale);
    else
      stages[s]->backward(d, caches[s], ce_scale, aux_scale);
    d = stages[s]->input_grad(caches[s]);
  }
  if (split_backward) {
    // Before the weight pass only the norm weights have gradients: every
    // projection, expert, router, head and embedding gradient is deferred.
    for (const auto& p : store.all()) {
      if (p->name.find("norm") != std::string::npos || !p->trainable) continue;
      float grad_sum = 0;
      for (int64_t i = 0; i < p->numel(); ++i) grad_sum += std::fabs(p->g<float>()[i]);
      EXPECT_EQ(grad_sum, 0.0f) << p->name << " got its gradient before backward_weight";
    }
    for (size_t s = stages.size(); s-- > 0;) stages[s]->backward_weight(caches[s]);
  }

  EXPECT_EQ(got.ce_sum, want.ce_sum);
  EXPECT_EQ(got.tokens, want.tokens);
  EXPECT_GT(want.aux_loss, 0);
  // Each stage sums its own blocks' aux losses; the total is the same sum, grouped.
  EXPECT_NEAR(got.aux_loss, want.aux_loss, 1e-12 * want.aux_loss);
  ASSERT_EQ(store.all().size(), whole.params().all().size());
  for (size_t i = 0; i < store.all().size(); ++i) {
    const Parameter& a = *store.all()[i];
    const Parameter& b = *whole.params().all()[i];
    ASSERT_EQ(a.name, b.name);  // the one-process order
    EXPECT_TRUE(same_bits(a.value, b.value)) << a.name;
    EXPECT_TRUE(same_bits(a.grad, b.grad)) << a.name << " gradient";
  }
  // The expert counts of each stage are those of its blocks in the whole model.
  const auto whole_counts = whole.expert_counts(whole_cache);
  for (size_t s = 0; s < stages.size(); ++s) {
    const auto c = stages[s]->expert_counts(caches[s]);
    for (size_t l = 0; l < c.size(); ++l)
      EXPECT_EQ(c[l], whole_counts[static_cast<size_t>(stages[s]->span().first) + l]);
  }
}

TEST(TransformerStage, OneStageIsTheWholeModel) { expect_stages_equal_transformer(small_moe(3), {3}); }

TEST(TransformerStage, TwoStagesEqualTheWholeModelBitForBit) {
  expect_stages_equal_transformer(small_moe(4), {2, 2});
}

TEST(TransformerStage, UnevenStagesEqualTheWholeModelBitForBit) {
  expect_stages_equal_transformer(small_moe(5), {1, 3, 1});
  expect_stages_equal_transformer(small_moe(4), {1, 1, 1, 1});
}

TEST(TransformerStage, SplitBackwardEqualsTheWholeModelBitForBit) {
  expect_stages_equal_transformer(small_moe(4), {4}, /*split_backward=*/true);
  expect_stages_equal_transformer(small_moe(5), {2, 1, 2}, /*split_backward=*/true);
}

}  // namespace
}  // namespace sadari
