// Helpers shared by the expert-parallel tests (tests/parallel, tests/mpi/ep_*):
// reproducible routings and values, and the serial reference of the capacity rule.
#pragma once

#include <cmath>
#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/rng.h"

namespace sadari::ep_test {

template <typename T>
std::vector<T> random_values(int64_t n, uint64_t seed, double scale) {
  std::vector<T> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    v[i] = static_cast<T>(scale * normal(seed, stream_key("ep_test"), static_cast<uint64_t>(i)));
  return v;
}

// n tokens, each choosing k distinct experts of E (a partial Fisher-Yates shuffle
// per token), [n, k]. `skew` > 0 makes expert 0 much more popular (to overflow
// capacities): with probability skew a token's first slot is expert 0.
inline std::vector<int32_t> random_routing(int64_t n, int64_t k, int64_t E, uint64_t seed,
                                           double skew = 0.0) {
  std::vector<int32_t> out(static_cast<size_t>(n * k));
  std::vector<int32_t> pool(static_cast<size_t>(E));
  const uint64_t key = stream_key("ep_test_routing");
  for (int64_t t = 0; t < n; ++t) {
    std::iota(pool.begin(), pool.end(), 0);
    int64_t start = 0;
    if (skew > 0 && uniform01(seed, key ^ 1, static_cast<uint64_t>(t)) < skew) start = 1;
    for (int64_t j = start; j < k; ++j) {
      const int64_t pick =
          j + static_cast<int64_t>(uniform_int(seed, key, static_cast<uint64_t>(t * E + j),
                                               static_cast<uint64_t>(E - j)));
      std::swap(pool[j], pool[pick]);
    }
    for (int64_t j = 0; j < k; ++j) out[t * k + j] = pool[j];
  }
  return out;
}

// The documented capacity rule, serially: C = ceil(f * N * k / E) with N the
// tokens of all ranks; a pair of expert e is kept when fewer than C pairs of e
// come before it in (rank, token) order. routing[r]: rank r's [n_r, k] experts.
// Returns kept flags per rank, [n_r * k].
inline std::vector<std::vector<uint8_t>> kept_pairs(
    const std::vector<std::vector<int32_t>>& routing, int64_t k, int64_t E, double factor) {
  int64_t N = 0;
  for (const auto& r : routing) N += static_cast<int64_t>(r.size()) / k;
  const int64_t C =
      static_cast<int64_t>(std::ceil(factor * static_cast<double>(N * k) / static_cast<double>(E)));
  std::vector<int64_t> taken(static_cast<size_t>(E), 0);
  std::vector<std::vector<uint8_t>> kept;
  for (const auto& r : routing) {
    kept.emplace_back(r.size(), 0);
    for (size_t p = 0; p < r.size(); ++p) kept.back()[p] = taken[r[p]]++ < C;
  }
  return kept;
}

// A tiny MoE model for dispatcher tests.
inline ModelConfig ep_model_config(int64_t experts, int64_t top_k, int64_t shared) {
  ModelConfig cfg;
  cfg.hidden = 8;
  cfg.experts = experts;
  cfg.moe_ffn_hidden = 4;
  cfg.shared_experts = shared;
  cfg.top_k = top_k;
  cfg.init_std = 0.5;  // spread-out router logits: O(1) outputs
  cfg.aux_loss_alpha = 0.01;
  return cfg;
}

}  // namespace sadari::ep_test
