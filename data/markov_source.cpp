#include "data/markov_source.h"

#include <cmath>

#include "core/error.h"
#include "core/rng.h"

namespace sadari {

namespace {

// Stream names: part of the corpus definition (changing one changes every
// synthetic corpus, and with it every recorded loss floor and run).
constexpr uint64_t kTransitionKey = stream_key("sadari.data.markov.transitions");
constexpr uint64_t kInitialKey = stream_key("sadari.data.markov.initial");
constexpr uint64_t kStreamKey = stream_key("sadari.data.markov.stream");

// Gamma(alpha, 1) variate by Marsaglia & Tsang (2000), fully counter-based: the
// i-th rejection attempt reads normal/uniform number i of its own sub-streams, so
// the value depends only on (seed, key), never on what was drawn before.
// For alpha < 1 it uses Gamma(alpha) = Gamma(alpha + 1) * U^(1/alpha).
double gamma_variate(uint64_t seed, uint64_t key, double alpha) {
  const uint64_t normal_key = combine_keys(key, 1), accept_key = combine_keys(key, 2),
                 boost_key = combine_keys(key, 3);
  const double a = alpha < 1.0 ? alpha + 1.0 : alpha;
  const double d = a - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  double g = 0;
  for (uint64_t attempt = 0;; ++attempt) {
    const double x = normal(seed, normal_key, attempt);
    double v = 1.0 + c * x;
    if (v <= 0) continue;
    v = v * v * v;
    const double u = uniform01(seed, accept_key, attempt);
    // The squeeze accepts ~98% cheaply; the log test is the exact criterion.
    if (u < 1.0 - 0.0331 * x * x * x * x || std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) {
      g = d * v;
      break;
    }
  }
  if (alpha < 1.0) g *= std::pow(uniform01(seed, boost_key, 0), 1.0 / alpha);
  return g;
}

double entropy_of(std::span<const double> p) {
  double h = 0;
  for (double q : p)
    if (q > 0) h -= q * std::log(q);
  return h;
}

}  // namespace

int32_t MarkovSource::symbol_token(int64_t symbol) {
  SADARI_ASSERT(symbol >= 0 && symbol < kMaxSymbols);
  if (symbol < 26) return static_cast<int32_t>('a' + symbol);
  if (symbol < 52) return static_cast<int32_t>('A' + (symbol - 26));
  return static_cast<int32_t>('0' + (symbol - 52));
}

int64_t MarkovSource::token_symbol(int32_t token) {
  if (token >= 'a' && token <= 'z') return token - 'a';
  if (token >= 'A' && token <= 'Z') return 26 + (token - 'A');
  if (token >= '0' && token <= '9') return 52 + (token - '0');
  return -1;
}

MarkovSource::MarkovSource(const SyntheticConfig& config)
    : symbols_(config.symbols), order_(config.order), contexts_(1), seed_(config.seed),
      concentration_(config.concentration) {
  if (symbols_ < 2 || symbols_ > kMaxSymbols)
    fail(detail::cat("must be in [2, ", kMaxSymbols, "], got ", symbols_), "data.synthetic.symbols",
         "symbols map to the printable bytes a-z, A-Z, 0-9");
  if (order_ < 0) fail(detail::cat("must be >= 0, got ", order_), "data.synthetic.order");
  if (!(concentration_ > 0) || !std::isfinite(concentration_))
    fail(detail::cat("must be a positive number, got ", concentration_), "data.synthetic.concentration");
  if (config.tokens < 1) fail(detail::cat("must be >= 1, got ", config.tokens), "data.synthetic.tokens");
  for (int64_t i = 0; i < order_; ++i) {
    contexts_ *= symbols_;
    if (contexts_ * symbols_ > kMaxTableEntries)
      fail(detail::cat("symbols^(order+1) = ", symbols_, "^", order_ + 1, " exceeds the table limit of ",
                       kMaxTableEntries, " entries"),
           "data.synthetic.order", "lower data.synthetic.order or data.synthetic.symbols");
  }
  draw_transitions();
  compute_stationary();
}

std::span<const double> MarkovSource::next_distribution(int64_t context) const {
  SADARI_ASSERT(context >= 0 && context < contexts_);
  return std::span<const double>(probs_.data() + context * symbols_, static_cast<size_t>(symbols_));
}

void MarkovSource::draw_transitions() {
  probs_.assign(static_cast<size_t>(contexts_ * symbols_), 0.0);
  for (int64_t c = 0; c < contexts_; ++c) {
    const uint64_t context_key = combine_keys(kTransitionKey, static_cast<uint64_t>(c));
    double* p = probs_.data() + c * symbols_;
    double sum = 0;
    for (int64_t s = 0; s < symbols_; ++s) {
      p[s] = gamma_variate(seed_, combine_keys(context_key, static_cast<uint64_t>(s)), concentration_);
      sum += p[s];
    }
    // Normalised gammas are a Dirichlet draw. sum == 0 would need every variate to
    // underflow; with the 53-bit uniforms that cannot happen for sane concentrations.
    if (!(sum > 0))
      fail("drew an all-zero next-symbol distribution", "data.synthetic.concentration",
           "raise data.synthetic.concentration");
    for (int64_t s = 0; s < symbols_; ++s) p[s] /= sum;
  }
}

void MarkovSource::compute_stationary() {
  // Power iteration on the chain over contexts: context c followed by symbol s
  // moves to (c * S + s) mod S^k. Every transition has positive probability, so
  // the chain is irreducible and aperiodic and the iteration converges; a tiny
  // concentration can make it slow, hence the bound and the error.
  const int64_t C = contexts_, S = symbols_;
  std::vector<double> pi(static_cast<size_t>(C), 1.0 / static_cast<double>(C)), next(pi.size());
  const int64_t max_iterations = std::max<int64_t>(1000, (int64_t{1} << 30) / (C * S));
  bool converged = false;
  for (int64_t it = 0; it < max_iterations && !converged; ++it) {
    std::fill(next.begin(), next.end(), 0.0);
    for (int64_t c = 0; c < C; ++c) {
      const double* p = probs_.data() + c * S;
      const int64_t base = (c * S) % C;
      for (int64_t s = 0; s < S; ++s) next[(base + s) % C] += pi[c] * p[s];
    }
    double total = 0;
    for (double v : next) total += v;
    double change = 0;
    for (int64_t c = 0; c < C; ++c) {
      next[c] /= total;  // keep rounding from drifting the mass away from 1
      change += std::abs(next[c] - pi[c]);
    }
    pi.swap(next);
    converged = change < 1e-13;
  }
  if (!converged)
    fail(detail::cat("the stationary distribution did not converge in ", max_iterations, " iterations"),
         "data.synthetic.concentration", "raise data.synthetic.concentration (a nearly reducible chain mixes slowly)");
  stationary_ = std::move(pi);

  entropy_rate_ = 0;
  for (int64_t c = 0; c < C; ++c) entropy_rate_ += stationary_[c] * entropy_of(next_distribution(c));

  // H(X_0..X_{m-1}) for m <= k: the marginal of the stationary context over its
  // m oldest symbols (context index / S^(k-m)).
  prefix_entropy_.assign(static_cast<size_t>(order_ + 1), 0.0);
  int64_t divisor = C;
  for (int64_t m = 0; m <= order_; ++m) {
    std::vector<double> marginal(static_cast<size_t>(C / divisor), 0.0);
    for (int64_t c = 0; c < C; ++c) marginal[c / divisor] += stationary_[c];
    prefix_entropy_[m] = entropy_of(marginal);
    if (m < order_) divisor /= S;
  }
}

double MarkovSource::conditional_entropy(int64_t m) const {
  SADARI_ASSERT(m >= 0);
  if (m >= order_) return entropy_rate_;
  return prefix_entropy_[m + 1] - prefix_entropy_[m];
}

double MarkovSource::loss_floor(int64_t seq_len) const {
  SADARI_CHECK(seq_len >= 1, "loss_floor: seq_len must be >= 1, got ", seq_len);
  // Position t predicts X_{t+1} from X_0..X_t: t + 1 symbols of context.
  double sum = 0;
  for (int64_t t = 0; t < seq_len && t + 1 < order_; ++t) sum += conditional_entropy(t + 1);
  const int64_t full_context = std::max<int64_t>(0, seq_len - std::max<int64_t>(0, order_ - 1));
  sum += static_cast<double>(full_context) * entropy_rate_;
  return sum / static_cast<double>(seq_len);
}

std::vector<int32_t> MarkovSource::generate(int64_t tokens) const {
  SADARI_CHECK(tokens >= 0, "MarkovSource::generate: tokens must be >= 0, got ", tokens);
  const int64_t C = contexts_, S = symbols_;
  // Inverse-CDF tables; the last positive entry of each row is forced to 1 so a
  // uniform just below 1 can never fall past the end through rounding.
  std::vector<double> cdf(probs_.size());
  for (int64_t c = 0; c < C; ++c) {
    double acc = 0;
    int64_t last_positive = 0;
    for (int64_t s = 0; s < S; ++s) {
      acc += probs_[c * S + s];
      cdf[c * S + s] = acc;
      if (probs_[c * S + s] > 0) last_positive = s;
    }
    for (int64_t s = last_positive; s < S; ++s) cdf[c * S + s] = 1.0;
  }

  std::vector<int32_t> out;
  out.reserve(static_cast<size_t>(tokens));
  // Initial context from the stationary distribution, emitted oldest symbol first,
  // so the stream is stationary from position 0.
  int64_t context = C - 1;
  {
    const double u = uniform01(seed_, kInitialKey, 0);
    double acc = 0;
    for (int64_t c = 0; c < C; ++c) {
      acc += stationary_[c];
      if (u < acc) {
        context = c;
        break;
      }
    }
  }
  int64_t place = C;
  for (int64_t i = 0; i < order_ && static_cast<int64_t>(out.size()) < tokens; ++i) {
    place /= S;
    out.push_back(symbol_token((context / place) % S));
  }
  for (int64_t t = order_; t < tokens; ++t) {
    const double u = uniform01(seed_, kStreamKey, static_cast<uint64_t>(t));
    const double* row = cdf.data() + context * S;
    int64_t s = 0;
    while (u >= row[s]) ++s;  // row[last_positive] == 1 > u stops it
    out.push_back(symbol_token(s));
    context = (context * S + s) % C;
  }
  return out;
}

}  // namespace sadari
