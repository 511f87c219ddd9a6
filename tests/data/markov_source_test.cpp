#include "data/markov_source.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <numeric>

#include "data_test_util.h"

namespace sadari {
namespace {

SyntheticConfig small_config(uint64_t seed = 7) {
  SyntheticConfig config;
  config.seed = seed;
  config.symbols = 8;
  config.order = 2;
  config.concentration = 0.5;
  config.tokens = 1 << 16;
  return config;
}

double entropy_from_counts(const std::vector<double>& counts) {
  double total = std::accumulate(counts.begin(), counts.end(), 0.0), h = 0;
  for (double c : counts)
    if (c > 0) h -= c / total * std::log(c / total);
  return h;
}

TEST(MarkovSource, SameSeedSameStreamOtherSeedOtherStream) {
  MarkovSource a(small_config(7)), b(small_config(7)), c(small_config(8));
  std::vector<int32_t> sa = a.generate(5000), sb = b.generate(5000), sc = c.generate(5000);
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, sc);
  EXPECT_NE(a.entropy_rate(), c.entropy_rate());
  // Position-keyed: a shorter stream is a prefix of a longer one.
  std::vector<int32_t> prefix = a.generate(1234);
  EXPECT_TRUE(std::equal(prefix.begin(), prefix.end(), sa.begin()));
}

TEST(MarkovSource, TokensArePrintableSymbolBytes) {
  EXPECT_EQ(MarkovSource::symbol_token(0), 'a');
  EXPECT_EQ(MarkovSource::symbol_token(25), 'z');
  EXPECT_EQ(MarkovSource::symbol_token(26), 'A');
  EXPECT_EQ(MarkovSource::symbol_token(61), '9');
  for (int64_t s = 0; s < MarkovSource::kMaxSymbols; ++s)
    EXPECT_EQ(MarkovSource::token_symbol(MarkovSource::symbol_token(s)), s);
  EXPECT_EQ(MarkovSource::token_symbol('#'), -1);

  MarkovSource source(small_config());
  EXPECT_EQ(source.max_token(), 'h');
  for (int32_t t : source.generate(10000)) {
    EXPECT_GE(MarkovSource::token_symbol(t), 0);
    EXPECT_LT(MarkovSource::token_symbol(t), 8);
  }
}

TEST(MarkovSource, DistributionsAndStationarity) {
  MarkovSource source(small_config());
  const int64_t C = source.contexts(), S = source.symbols();
  ASSERT_EQ(C, 64);
  for (int64_t c = 0; c < C; ++c) {
    auto p = source.next_distribution(c);
    EXPECT_NEAR(std::accumulate(p.begin(), p.end(), 0.0), 1.0, 1e-12);
  }
  const std::vector<double>& pi = source.stationary();
  EXPECT_NEAR(std::accumulate(pi.begin(), pi.end(), 0.0), 1.0, 1e-12);
  std::vector<double> moved(C, 0.0);
  for (int64_t c = 0; c < C; ++c)
    for (int64_t s = 0; s < S; ++s) moved[(c * S + s) % C] += pi[c] * source.next_distribution(c)[s];
  for (int64_t c = 0; c < C; ++c) EXPECT_NEAR(moved[c], pi[c], 1e-12);
}

TEST(MarkovSource, DirichletMomentsOfTransitionRows) {
  // Over many contexts the entries of P(.|c) are Dirichlet(alpha) coordinates:
  // mean 1/S, variance (1/S)(1 - 1/S)/(S alpha + 1). Checks both gamma branches.
  for (double alpha : {0.3, 2.5}) {
    SyntheticConfig config;
    config.symbols = 4;
    config.order = 5;
    config.concentration = alpha;
    config.tokens = 10;
    MarkovSource source(config);
    double sum = 0, sum_sq = 0;
    int64_t n = 0;
    for (int64_t c = 0; c < source.contexts(); ++c)
      for (double p : source.next_distribution(c)) {
        sum += p;
        sum_sq += p * p;
        ++n;
      }
    const double mean = sum / n, var = sum_sq / n - mean * mean;
    const double want_var = 0.25 * 0.75 / (4 * alpha + 1);
    EXPECT_NEAR(mean, 0.25, 1e-12);
    EXPECT_NEAR(var / want_var, 1.0, 0.12) << "alpha " << alpha;
  }
}

TEST(MarkovSource, LongStreamMatchesEntropyRate) {
  MarkovSource source(small_config());
  const int64_t S = source.symbols(), C = source.contexts();
  const int64_t n = 2'000'000;
  std::vector<int32_t> stream = source.generate(n);

  // Cross-entropy of the stream under the true model: an unbiased estimate of H.
  double nll = 0;
  std::vector<double> joint(C * S, 0.0), context_counts(C, 0.0), pair_counts(S * S, 0.0);
  for (int64_t t = 2; t < n; ++t) {
    const int64_t c = MarkovSource::token_symbol(stream[t - 2]) * S + MarkovSource::token_symbol(stream[t - 1]);
    const int64_t s = MarkovSource::token_symbol(stream[t]);
    nll -= std::log(source.next_distribution(c)[s]);
    joint[c * S + s] += 1;
    context_counts[c] += 1;
  }
  for (int64_t t = 1; t < n; ++t)
    pair_counts[MarkovSource::token_symbol(stream[t - 1]) * S + MarkovSource::token_symbol(stream[t])] += 1;
  const double H = source.entropy_rate();
  EXPECT_NEAR(nll / (n - 2), H, 0.01);

  // The empirical conditional entropy H(X_t | X_{t-2}, X_{t-1}) from counts.
  const double empirical = entropy_from_counts(joint) - entropy_from_counts(context_counts);
  EXPECT_NEAR(empirical, H, 0.01);

  // H(X_1 | X_0) from bigram counts against the exact marginalisation.
  std::vector<double> first(S, 0.0);
  for (int64_t a = 0; a < S; ++a)
    for (int64_t b = 0; b < S; ++b) first[a] += pair_counts[a * S + b];
  EXPECT_NEAR(entropy_from_counts(pair_counts) - entropy_from_counts(first), source.conditional_entropy(1), 0.01);

  // Context frequencies approach the stationary distribution.
  double l1 = 0;
  for (int64_t c = 0; c < C; ++c) l1 += std::abs(context_counts[c] / (n - 2) - source.stationary()[c]);
  EXPECT_LT(l1, 0.02);
}

TEST(MarkovSource, LossFloorBoundsAndLimit) {
  SyntheticConfig config = small_config();
  config.order = 3;
  MarkovSource source(config);
  const double H = source.entropy_rate();
  EXPECT_GT(H, 0);
  EXPECT_LT(H, std::log(8.0));
  // Less context, more uncertainty: H(X_1|X_0) >= H(X_2|X_0,X_1) >= H.
  EXPECT_GE(source.conditional_entropy(0), source.conditional_entropy(1));
  EXPECT_GE(source.conditional_entropy(1), source.conditional_entropy(2) - 1e-12);
  EXPECT_GE(source.conditional_entropy(2), H - 1e-12);
  EXPECT_DOUBLE_EQ(source.conditional_entropy(3), H);
  EXPECT_DOUBLE_EQ(source.loss_floor(1), source.conditional_entropy(1));
  EXPECT_NEAR(source.loss_floor(2), (source.conditional_entropy(1) + source.conditional_entropy(2)) / 2, 1e-15);
  double previous = source.loss_floor(1);
  for (int64_t T : {2, 3, 4, 8, 64, 1024}) {
    const double floor = source.loss_floor(T);
    EXPECT_GE(floor, H - 1e-12) << T;
    EXPECT_LE(floor, previous + 1e-12) << T;
    previous = floor;
  }
  EXPECT_NEAR(source.loss_floor(1'000'000), H, 1e-5);
  EXPECT_GT(source.loss_floor(4), H);
}

TEST(MarkovSource, OrderZeroIsIid) {
  SyntheticConfig config = small_config();
  config.order = 0;
  MarkovSource source(config);
  EXPECT_EQ(source.contexts(), 1);
  double h = 0;
  for (double p : source.next_distribution(0)) h -= p > 0 ? p * std::log(p) : 0;
  EXPECT_NEAR(source.entropy_rate(), h, 1e-12);
  EXPECT_DOUBLE_EQ(source.loss_floor(1), source.entropy_rate());
  EXPECT_DOUBLE_EQ(source.loss_floor(64), source.entropy_rate());
  EXPECT_EQ(source.generate(100).size(), 100u);
}

TEST(MarkovSource, DefaultConfigIsUsable) {
  MarkovSource source{SyntheticConfig{}};
  EXPECT_EQ(source.contexts(), 256);
  EXPECT_GT(source.loss_floor(64), source.entropy_rate());
  EXPECT_LT(source.entropy_rate(), std::log(16.0));
}

TEST(MarkovSourceErrors, RejectsBadConfig) {
  auto message_for = [](SyntheticConfig config) {
    return testing::error_message([&] { MarkovSource source(config); });
  };
  SyntheticConfig config = small_config();
  config.symbols = 1;
  EXPECT_NE(message_for(config).find("data.synthetic.symbols"), std::string::npos);
  config.symbols = 63;
  EXPECT_NE(message_for(config).find("data.synthetic.symbols"), std::string::npos);
  config = small_config();
  config.order = -1;
  EXPECT_NE(message_for(config).find("data.synthetic.order"), std::string::npos);
  config.order = 12;
  EXPECT_NE(message_for(config).find("data.synthetic.order"), std::string::npos);
  config = small_config();
  config.concentration = 0;
  EXPECT_NE(message_for(config).find("data.synthetic.concentration"), std::string::npos);
  config = small_config();
  config.tokens = 0;
  EXPECT_NE(message_for(config).find("data.synthetic.tokens"), std::string::npos);
}

}  // namespace
}  // namespace sadari
