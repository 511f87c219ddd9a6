// Counter-based random numbers (Philox-4x32-10, Salmon et al., SC'11).
//
// Why counter-based: a value depends only on (seed, stream key, index), never on how
// many values were drawn before. So parameter element i of tensor "blocks.3.attn.wq"
// gets the same value whether the tensor lives whole in one process or is split
// across ranks, and sample i of the data order is the same for any data-parallel
// degree. That is what makes every parallel layout comparable with the
// one-process run step by step.
//
// Stream keys are 64-bit hashes of names (stream_key("blocks.3.attn.wq")).
// Thread-safety: all functions are pure.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace sadari {

// FNV-1a 64-bit hash of a name; stable across platforms and releases (it is
// part of the checkpoint-free reproducibility contract: do not change it).
constexpr uint64_t stream_key(std::string_view name) {
  uint64_t h = 1469598103934665603ull;
  for (char c : name) {
    h ^= static_cast<uint8_t>(c);
    h *= 1099511628211ull;
  }
  return h;
}

// Mixes two keys into one (for "expert 5 of stream X" style derivations).
constexpr uint64_t combine_keys(uint64_t a, uint64_t b) {
  uint64_t x = a ^ (b + 0x9e3779b97f4a7c15ull + (a << 6) + (a >> 2));
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return x;
}

// One Philox-4x32-10 block: four 32-bit words for (seed, key, counter).
std::array<uint32_t, 4> philox4x32(uint64_t seed, uint64_t key, uint64_t counter);

// Uniform in [0, 1) with 24 random bits (float) or 53 bits (double), value `index`
// of stream (seed, key).
double uniform01(uint64_t seed, uint64_t key, uint64_t index);

// Standard normal (Box-Muller over one Philox block), value `index` of stream.
double normal(uint64_t seed, uint64_t key, uint64_t index);

// Uniform integer in [0, n), n > 0, without modulo bias worth noticing (64-bit draw).
uint64_t uniform_int(uint64_t seed, uint64_t key, uint64_t index, uint64_t n);

}  // namespace sadari
