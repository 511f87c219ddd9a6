// grow(v, n): makes a reusable buffer hold at least n elements. Buffers only
// grow: a cache reused across micro-batches of equal size never reallocates
// after the first call, and elements already there keep their values (callers
// overwrite what they use).
#pragma once

#include <cstddef>
#include <cstdint>

namespace sadari {

// V: anything with size() and resize(size_t) (std::vector). REQUIRES: n >= 0.
template <typename V>
void grow(V& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
}

}  // namespace sadari
