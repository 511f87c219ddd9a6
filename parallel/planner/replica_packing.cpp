#include "parallel/planner/replica_packing.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"

namespace sadari::planner_detail {

namespace {

// Membership of items in bins, bins x items flags: O(1) "does bin b hold item i".
class Holdings {
 public:
  Holdings(int64_t bins, int64_t items) : items_(items), has_(static_cast<size_t>(bins * items), 0) {}
  bool has(int64_t bin, int64_t item) const { return has_[static_cast<size_t>(bin * items_ + item)] != 0; }
  void set(int64_t bin, int64_t item, bool v) { has_[static_cast<size_t>(bin * items_ + item)] = v; }

 private:
  int64_t items_;
  std::vector<char> has_;
};

// Balancing sweeps once the most loaded bin is stuck (each O(bins^2 capacity^2)).
constexpr int kBalanceSweeps = 1;
// Replica-count moves per packing (each followed by swaps); each lowers the maximum.
constexpr int kReplicaMoves = 16;

}  // namespace

Packing lpt_pack(const std::vector<double>& weight, const std::vector<int64_t>& count,
                 int64_t bins, int64_t capacity) {
  const int64_t n = static_cast<int64_t>(weight.size());
  SADARI_ASSERT(static_cast<int64_t>(count.size()) == n && bins >= 1 && capacity >= 1);
  int64_t total = 0;
  for (int64_t c : count) {
    SADARI_ASSERT(c >= 1 && c <= bins);
    total += c;
  }
  SADARI_ASSERT(total == bins * capacity);

  // Heaviest first; stable on ids so equal weights go in id order.
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return weight[a] > weight[b]; });

  Packing p;
  p.items.assign(static_cast<size_t>(bins), {});
  p.load.assign(static_cast<size_t>(bins), 0.0);
  Holdings holds(bins, n);
  auto size_of = [&](int64_t b) { return static_cast<int64_t>(p.items[b].size()); };
  auto put = [&](int64_t b, int64_t item) {
    p.items[b].push_back(item);
    p.load[b] += weight[item];
    holds.set(b, item, true);
  };

  for (int64_t item : order) {
    for (int64_t copy = 0; copy < count[item]; ++copy) {
      int64_t best = -1;
      for (int64_t b = 0; b < bins; ++b) {
        if (size_of(b) >= capacity || holds.has(b, item)) continue;
        if (best < 0 || p.load[b] < p.load[best] ||
            (p.load[b] == p.load[best] && size_of(b) < size_of(best)))
          best = b;
      }
      if (best < 0) {
        // Every bin with room holds `item` already. g: the least loaded bin with
        // room; h: the least loaded full bin without `item` (exists: fewer than
        // count[item] <= bins bins hold it). g has fewer items than h, so h holds
        // some item g lacks: move the one that keeps max(g, h) lowest to g.
        int64_t g = -1, h = -1;
        for (int64_t b = 0; b < bins; ++b) {
          if (size_of(b) < capacity && (g < 0 || p.load[b] < p.load[g])) g = b;
          if (size_of(b) >= capacity && !holds.has(b, item) && (h < 0 || p.load[b] < p.load[h])) h = b;
        }
        SADARI_ASSERT(g >= 0 && h >= 0);
        int64_t pick = -1;
        double pick_max = 0;
        for (size_t k = 0; k < p.items[h].size(); ++k) {
          const int64_t f = p.items[h][k];
          if (holds.has(g, f)) continue;
          const double m = std::max(p.load[g] + weight[f], p.load[h] - weight[f] + weight[item]);
          if (pick < 0 || m < pick_max) {
            pick = static_cast<int64_t>(k);
            pick_max = m;
          }
        }
        SADARI_ASSERT(pick >= 0);
        const int64_t f = p.items[h][pick];
        p.items[h].erase(p.items[h].begin() + pick);
        p.load[h] -= weight[f];
        holds.set(h, f, false);
        put(g, f);
        best = h;
      }
      put(best, item);
    }
  }
  return p;
}

namespace {

// The swap search of refine_by_swaps over one packing.
class Swapper {
 public:
  Swapper(Packing& p, const std::vector<double>& weight)
      : p_(p), w_(weight), bins_(static_cast<int64_t>(p.items.size())),
        holds_(bins_, static_cast<int64_t>(weight.size())) {
    double top = 0;
    for (int64_t b = 0; b < bins_; ++b) {
      for (int64_t i : p_.items[b]) holds_.set(b, i, true);
      top = std::max(top, p_.load[b]);
    }
    tol_ = 1e-12 * std::max(1.0, top);  // smaller changes are rounding noise, not progress
  }

  // The swap between the most loaded bin and another that lowers their maximum
  // the most; false if there is none.
  bool improve_max_bin() {
    int64_t hi = 0;
    for (int64_t b = 1; b < bins_; ++b)
      if (p_.load[b] > p_.load[hi]) hi = b;
    Swap best;
    best.pair_max = p_.load[hi] - tol_;
    for (int64_t lo = 0; lo < bins_; ++lo)
      if (lo != hi) consider(hi, lo, best);
    if (best.lo < 0) return false;
    apply(hi, best);
    return true;
  }

  // For every pair of bins (heavier first), the swap that evens the pair best,
  // if it lowers the pair's maximum. It never raises the overall maximum; it
  // spreads load so that the most loaded bin finds partners again. Returns the
  // number of swaps.
  int64_t balance_pairs(int64_t budget) {
    std::vector<int64_t> order(static_cast<size_t>(bins_));
    std::iota(order.begin(), order.end(), int64_t{0});
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return p_.load[a] > p_.load[b]; });
    int64_t swaps = 0;
    for (size_t x = 0; x < order.size() && swaps < budget; ++x)
      for (size_t y = order.size(); y-- > x + 1 && swaps < budget;) {
        int64_t hi = order[x], lo = order[y];
        if (p_.load[hi] < p_.load[lo]) std::swap(hi, lo);
        Swap best;
        best.pair_max = p_.load[hi] - tol_;
        consider(hi, lo, best);
        if (best.lo < 0) continue;
        apply(hi, best);
        ++swaps;
      }
    return swaps;
  }

 private:
  struct Swap {
    double pair_max = 0, d = 0;
    int64_t lo = -1, a = -1, b = -1;  // bin, index in hi's items, index in lo's
  };

  // Best swap of an item of `hi` with a lighter one of `lo` whose pair maximum
  // is below best.pair_max.
  void consider(int64_t hi, int64_t lo, Swap& best) const {
    if (p_.load[lo] >= p_.load[hi] - tol_) return;
    // No swap brings the pair below its average.
    if (0.5 * (p_.load[hi] + p_.load[lo]) >= best.pair_max) return;
    const std::vector<int64_t>& hi_items = p_.items[hi];
    const std::vector<int64_t>& lo_items = p_.items[lo];
    for (size_t ka = 0; ka < hi_items.size(); ++ka) {
      const int64_t a = hi_items[ka];
      if (holds_.has(lo, a)) continue;
      for (size_t kb = 0; kb < lo_items.size(); ++kb) {
        const int64_t b = lo_items[kb];
        const double d = w_[a] - w_[b];
        if (d <= 0 || holds_.has(hi, b)) continue;
        const double m = std::max(p_.load[hi] - d, p_.load[lo] + d);
        if (m < best.pair_max) best = {m, d, lo, static_cast<int64_t>(ka), static_cast<int64_t>(kb)};
      }
    }
  }

  void apply(int64_t hi, const Swap& s) {
    int64_t& a = p_.items[hi][s.a];
    int64_t& b = p_.items[s.lo][s.b];
    holds_.set(hi, a, false);
    holds_.set(s.lo, b, false);
    std::swap(a, b);
    holds_.set(hi, a, true);
    holds_.set(s.lo, b, true);
    p_.load[hi] -= s.d;
    p_.load[s.lo] += s.d;
  }

  Packing& p_;
  const std::vector<double>& w_;
  int64_t bins_;
  Holdings holds_;
  double tol_ = 0;
};

}  // namespace

int64_t refine_by_swaps(Packing& p, const std::vector<double>& weight, int64_t max_rounds) {
  Swapper swapper(p, weight);
  int64_t rounds = 0;
  int sweeps = 0;
  while (rounds < max_rounds) {
    if (swapper.improve_max_bin()) {
      ++rounds;
      continue;
    }
    // Stuck: even out the other bins and try again (kBalanceSweeps times at most).
    if (sweeps++ == kBalanceSweeps) break;
    const int64_t swaps = swapper.balance_pairs(max_rounds - rounds);
    if (swaps == 0) break;
    rounds += swaps;
  }
  return rounds;
}

namespace {

// One replica-count move on the most loaded bin `hi`: one of its replicas of an
// expert a with count >= 2 becomes a new replica of an expert b it lacks. a's
// other replicas get heavier (load_a / (count_a - 1)), b's lighter. Applies the
// move that lowers the overall maximum the most; false if none lowers it.
bool move_replica(Packing& p, const std::vector<double>& loads, std::vector<int64_t>& count,
                  std::vector<double>& w) {
  const int64_t bins = static_cast<int64_t>(p.items.size());
  const int64_t n = static_cast<int64_t>(loads.size());
  Holdings holds(bins, n);
  std::vector<std::vector<int64_t>> holders(static_cast<size_t>(n));
  for (int64_t g = 0; g < bins; ++g)
    for (int64_t e : p.items[g]) {
      holds.set(g, e, true);
      holders[e].push_back(g);
    }
  std::vector<int64_t> order(static_cast<size_t>(bins));  // heaviest first
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return p.load[a] > p.load[b]; });
  const int64_t hi = order[0];
  const double tol = 1e-12 * std::max(1.0, p.load[hi]);
  double best_max = p.load[hi] - tol;
  int64_t best_k = -1, best_b = -1;
  for (size_t k = 0; k < p.items[hi].size(); ++k) {
    const int64_t a = p.items[hi][k];
    if (count[a] < 2) continue;
    const double da = loads[a] / static_cast<double>(count[a] - 1) - w[a];
    for (int64_t b = 0; b < n; ++b) {
      if (holds.has(hi, b)) continue;  // also skips a
      const double wb = loads[b] / static_cast<double>(count[b] + 1);
      const double db = w[b] - wb;
      double m = p.load[hi] - w[a] + wb;
      if (m >= best_max) continue;
      for (int64_t g : holders[a])
        if (g != hi) m = std::max(m, p.load[g] + da - (holds.has(g, b) ? db : 0.0));
      if (m >= best_max) continue;
      for (int64_t g : holders[b]) m = std::max(m, p.load[g] - db + (holds.has(g, a) ? da : 0.0));
      for (int64_t g : order)  // the heaviest bin the move leaves alone
        if (g != hi && !holds.has(g, a) && !holds.has(g, b)) {
          m = std::max(m, p.load[g]);
          break;
        }
      if (m < best_max) {
        best_max = m;
        best_k = static_cast<int64_t>(k);
        best_b = b;
      }
    }
  }
  if (best_k < 0) return false;
  const int64_t a = p.items[hi][best_k];
  p.items[hi][best_k] = best_b;
  --count[a];
  ++count[best_b];
  w[a] = loads[a] / static_cast<double>(count[a]);
  w[best_b] = loads[best_b] / static_cast<double>(count[best_b]);
  for (int64_t g = 0; g < bins; ++g) {  // exact sums, no drift
    double sum = 0;
    for (int64_t e : p.items[g]) sum += w[e];
    p.load[g] = sum;
  }
  return true;
}

}  // namespace

int64_t refine_replicas(Packing& p, const std::vector<double>& loads, std::vector<int64_t>& count,
                        int64_t max_rounds) {
  std::vector<double> w(loads.size());
  for (size_t e = 0; e < loads.size(); ++e) w[e] = loads[e] / static_cast<double>(count[e]);
  int64_t rounds = refine_by_swaps(p, w, max_rounds);
  for (int moves = 0; moves < kReplicaMoves && rounds < max_rounds; ++moves) {
    if (!move_replica(p, loads, count, w)) break;
    ++rounds;
    rounds += refine_by_swaps(p, w, max_rounds - rounds);
  }
  return rounds;
}

}  // namespace sadari::planner_detail
