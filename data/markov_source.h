// MarkovSource: the synthetic corpus, an order-k Markov chain whose entropy is known.
//
// Why: a training run needs data that (a) costs no download, (b) is the same on
// every machine, and (c) has a computable best possible loss, so tests and users can
// see how close a model gets to the floor instead of guessing from a falling curve.
//
// Definition (docs/data-format.md, "Synthetic corpus"):
//   * alphabet of S = symbols symbols; context = the k = order previous symbols,
//     numbered c = s_1 * S^(k-1) + ... + s_k (s_1 the oldest); S^k contexts.
//   * P(. | c) ~ Dirichlet(concentration, ..., concentration), drawn from Philox
//     (core/rng.h) keyed by (synthetic.seed, context index): gamma variates by
//     Marsaglia-Tsang, normalised.
//   * the stream starts with a context drawn from the stationary distribution and
//     continues with the chain; every token is drawn with one uniform keyed by
//     (synthetic.seed, position), so it is stationary from its first token.
//   * symbol s is the token id of a printable byte: 'a'..'z' for s < 26, 'A'..'Z'
//     for 26 <= s < 52, '0'..'9' for 52 <= s < 62 (so S <= 62).
// Entropies are in nats.
//
// Thread-safety: immutable after construction; all members are const.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/config.h"

namespace sadari {

class MarkovSource {
 public:
  static constexpr int64_t kMaxSymbols = 62;
  // Bound on contexts * symbols (the probability table): keeps construction well
  // under a second and memory in megabytes.
  static constexpr int64_t kMaxTableEntries = int64_t{1} << 22;

  // Validates `config` (Error with where = "data.synthetic.<key>"), draws the
  // transition table and computes the stationary distribution. Throws Error if
  // power iteration does not converge (a nearly reducible chain).
  explicit MarkovSource(const SyntheticConfig& config);

  int64_t symbols() const { return symbols_; }
  int64_t order() const { return order_; }
  int64_t contexts() const { return contexts_; }
  uint64_t seed() const { return seed_; }

  // P(next symbol = s | context c) for s in [0, symbols()). REQUIRES 0 <= c < contexts().
  std::span<const double> next_distribution(int64_t context) const;
  // Stationary probability of each context (k-tuple), summing to 1.
  const std::vector<double>& stationary() const { return stationary_; }

  // The first `tokens` tokens of the stream (token ids, see symbol_token). The
  // stream is a pure function of (config, position): generate(n) is a prefix of
  // generate(m) for n < m. REQUIRES tokens >= 0.
  std::vector<int32_t> generate(int64_t tokens) const;

  // Entropy rate H = sum_c pi(c) H(P(. | c)): the loss floor with full context.
  double entropy_rate() const { return entropy_rate_; }

  // H(X_m | X_0 .. X_{m-1}) under stationarity, m >= 0: for m < order() by
  // marginalising the stationary context distribution, else entropy_rate().
  double conditional_entropy(int64_t m) const;

  // The least mean cross-entropy (nats/token) any model can reach on windows of
  // seq_len predictions that start at a stationary position and see only the
  // window: (1/T) sum_{t<T} H(X_{t+1} | X_0..X_t). >= entropy_rate(), -> it as T grows.
  // REQUIRES seq_len >= 1.
  double loss_floor(int64_t seq_len) const;

  static int32_t symbol_token(int64_t symbol);
  // The symbol of a token id, or -1 if the id is not a symbol's token.
  static int64_t token_symbol(int32_t token);
  // The largest token id this source emits.
  int32_t max_token() const { return symbol_token(symbols_ - 1); }

 private:
  void draw_transitions();
  void compute_stationary();

  int64_t symbols_, order_, contexts_;
  uint64_t seed_;
  double concentration_;
  std::vector<double> probs_;       // [contexts][symbols]
  std::vector<double> stationary_;  // [contexts]
  std::vector<double> prefix_entropy_;  // H(X_0..X_{m-1}) for m = 0..order
  double entropy_rate_ = 0;
};

}  // namespace sadari
