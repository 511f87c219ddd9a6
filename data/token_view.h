// TokenView: a non-owning, read-only view of a token stream stored as u16 or i32.
//
// Why a view with two element types: shards of a byte-level (or any < 65536)
// vocabulary are stored as u16 to halve disk and page-cache use, while the
// synthetic corpus lives in memory as i32. The sampler only ever copies windows
// into int32 buffers, so it reads both through copy_to() without converting a
// whole multi-gigabyte shard up front.
//
// Ownership: the view does not own the tokens. Whoever produced it (a TokenShard,
// a Dataset, a std::vector) must outlive every copy of the view.
// Thread-safety: all members are const and read-only; safe for concurrent use.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>

#include "core/error.h"

namespace sadari {

// Element type of stored tokens. The values are the dtype codes of the on-disk
// shard format (docs/data-format.md); do not renumber.
enum class TokenDtype : uint32_t { kU16 = 1, kI32 = 2 };

inline int64_t token_dtype_bytes(TokenDtype dtype) { return dtype == TokenDtype::kU16 ? 2 : 4; }
inline const char* token_dtype_name(TokenDtype dtype) { return dtype == TokenDtype::kU16 ? "u16" : "i32"; }

class TokenView {
 public:
  TokenView() = default;  // empty stream
  explicit TokenView(std::span<const int32_t> tokens)
      : data_(tokens.data()), size_(static_cast<int64_t>(tokens.size())), dtype_(TokenDtype::kI32) {}
  explicit TokenView(std::span<const uint16_t> tokens)
      : data_(tokens.data()), size_(static_cast<int64_t>(tokens.size())), dtype_(TokenDtype::kU16) {}

  int64_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  TokenDtype dtype() const { return dtype_; }

  // REQUIRES: 0 <= i < size().
  int32_t operator[](int64_t i) const {
    return dtype_ == TokenDtype::kU16 ? static_cast<const uint16_t*>(data_)[i]
                                      : static_cast<const int32_t*>(data_)[i];
  }

  // Copies tokens [first, first + count) into out[0, count), widening u16 to i32.
  // REQUIRES: 0 <= first, 0 <= count, first + count <= size(); out holds count values.
  void copy_to(int64_t first, int64_t count, int32_t* out) const {
    SADARI_ASSERT(first >= 0 && count >= 0 && first + count <= size_);
    if (dtype_ == TokenDtype::kI32) {
      std::memcpy(out, static_cast<const int32_t*>(data_) + first, static_cast<size_t>(count) * 4);
    } else {
      const uint16_t* src = static_cast<const uint16_t*>(data_) + first;
      for (int64_t i = 0; i < count; ++i) out[i] = src[i];
    }
  }

  // The view of tokens [first, first + count).
  // REQUIRES: 0 <= first, 0 <= count, first + count <= size().
  TokenView subview(int64_t first, int64_t count) const {
    SADARI_ASSERT(first >= 0 && count >= 0 && first + count <= size_);
    TokenView view = *this;
    view.data_ = static_cast<const char*>(data_) + first * token_dtype_bytes(dtype_);
    view.size_ = count;
    return view;
  }

 private:
  const void* data_ = nullptr;
  int64_t size_ = 0;
  TokenDtype dtype_ = TokenDtype::kI32;
};

}  // namespace sadari
