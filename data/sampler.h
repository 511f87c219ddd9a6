// WindowSampler: fixed-length training windows from a token stream, in an order
// that depends only on (seed, global sample index).
//
// Windows: window w covers tokens [w*T, w*T + T] (T + 1 tokens, T = seq_len);
// inputs are its first T tokens, targets its last T (the inputs shifted by one).
// Windows start at multiples of T, so neighbours share one token and every token
// but the first is a target exactly once per epoch. W = (n - 1) / T windows fit in
// a stream of n tokens; a trailing remainder shorter than a window is never used.
//
// Order: global sample g belongs to epoch e = g / W and reads window
// perm_e(g mod W), where perm_e is a keyed bijection of [0, W):
//   kShuffled   - a Feistel network (Philox round function keyed by (seed, e,
//                 round)) over the smallest power of four >= W, cycle-walked back
//                 into [0, W). O(1) memory and time per sample, no state.
//   kSequential - perm_e(i) = i: every pass reads the stream front to back, so
//                 validation losses of different runs see the same windows.
// Because a sample is a pure function of g, sample g is the same whichever rank
// reads it and however the index range is split into fill() calls: the data order
// is independent of the data-parallel layout.
//
// Ownership: holds a TokenView; the tokens' owner (Dataset, TokenShard, vector)
// must outlive the sampler. Thread-safety: immutable; fill() may run concurrently.
#pragma once

#include <cstdint>

#include "data/token_view.h"

namespace sadari {

enum class SampleOrder { kShuffled, kSequential };

class WindowSampler {
 public:
  // REQUIRES: seq_len >= 1 and tokens.size() >= seq_len + 1 (throws Error otherwise).
  // `seed` keys the shuffled order (train.seed); ignored for kSequential.
  WindowSampler(TokenView tokens, int64_t seq_len, SampleOrder order, uint64_t seed = 0);

  int64_t seq_len() const { return seq_len_; }
  int64_t windows() const { return windows_; }  // W, samples per epoch
  SampleOrder order() const { return order_; }
  uint64_t seed() const { return seed_; }

  // The window read by global sample `sample`. REQUIRES sample >= 0.
  int64_t window_of(int64_t sample) const;

  // Writes samples [first_sample, first_sample + count): sample first_sample + i
  // fills inputs[i*T, (i+1)*T) and targets[i*T, (i+1)*T).
  // REQUIRES first_sample >= 0, count >= 0, buffers of count * seq_len() values.
  void fill(int64_t first_sample, int64_t count, int32_t* inputs, int32_t* targets) const;

 private:
  uint64_t feistel(uint64_t x, uint64_t epoch_key) const;

  TokenView tokens_;
  int64_t seq_len_;
  int64_t windows_;
  SampleOrder order_;
  uint64_t seed_;
  int half_bits_ = 1;       // the Feistel domain is 2^(2 * half_bits_) >= windows_
  uint64_t half_mask_ = 1;
};

}  // namespace sadari
