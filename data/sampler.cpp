#include "data/sampler.h"

#include "core/error.h"
#include "core/rng.h"

namespace sadari {

namespace {
// Part of the data-order definition: changing either changes every run's order.
constexpr uint64_t kOrderKey = stream_key("sadari.data.order");
// Luby-Rackoff: four rounds already give a pseudorandom permutation; six leave
// margin against visible structure in small domains. Costs ~6 Philox calls/sample.
constexpr int kFeistelRounds = 6;
}  // namespace

WindowSampler::WindowSampler(TokenView tokens, int64_t seq_len, SampleOrder order, uint64_t seed)
    : tokens_(tokens), seq_len_(seq_len), windows_(0), order_(order), seed_(seed) {
  SADARI_CHECK(seq_len >= 1, "WindowSampler: seq_len must be >= 1, got ", seq_len);
  SADARI_CHECK(tokens.size() >= seq_len + 1, "WindowSampler: a stream of ", tokens.size(),
               " tokens is shorter than one window of seq_len+1 = ", seq_len + 1);
  windows_ = (tokens.size() - 1) / seq_len;
  // Balanced Feistel halves of h bits each: the smallest 4^h >= W, so cycle
  // walking needs fewer than 4 steps per sample on average.
  while (half_bits_ < 31 && (uint64_t{1} << (2 * half_bits_)) < static_cast<uint64_t>(windows_)) ++half_bits_;
  half_mask_ = (uint64_t{1} << half_bits_) - 1;
}

uint64_t WindowSampler::feistel(uint64_t x, uint64_t epoch_key) const {
  uint64_t left = x >> half_bits_, right = x & half_mask_;
  for (int round = 0; round < kFeistelRounds; ++round) {
    // Swapping halves and xoring a keyed function of one half into the other is
    // invertible whatever the function is: that is what makes this a bijection.
    const uint64_t f = philox4x32(seed_, combine_keys(epoch_key, static_cast<uint64_t>(round)), right)[0] & half_mask_;
    const uint64_t next_right = left ^ f;
    left = right;
    right = next_right;
  }
  return (left << half_bits_) | right;
}

int64_t WindowSampler::window_of(int64_t sample) const {
  SADARI_CHECK(sample >= 0, "WindowSampler: negative sample index ", sample);
  const int64_t epoch = sample / windows_, index = sample % windows_;
  if (order_ == SampleOrder::kSequential || windows_ == 1) return index;
  const uint64_t epoch_key = combine_keys(kOrderKey, static_cast<uint64_t>(epoch));
  // Cycle walking: the Feistel permutes [0, 4^h); applying it again to values that
  // land outside [0, W) stays a bijection of [0, W) and ends, because the orbit of
  // an in-range value returns to the range.
  uint64_t x = static_cast<uint64_t>(index);
  do x = feistel(x, epoch_key);
  while (x >= static_cast<uint64_t>(windows_));
  return static_cast<int64_t>(x);
}

void WindowSampler::fill(int64_t first_sample, int64_t count, int32_t* inputs, int32_t* targets) const {
  SADARI_CHECK(first_sample >= 0 && count >= 0, "WindowSampler::fill: bad range [", first_sample, ", +",
               count, ")");
  const int64_t T = seq_len_;
  for (int64_t i = 0; i < count; ++i) {
    const int64_t start = window_of(first_sample + i) * T;
    tokens_.copy_to(start, T, inputs + i * T);
    tokens_.copy_to(start + 1, T, targets + i * T);
  }
}

}  // namespace sadari
