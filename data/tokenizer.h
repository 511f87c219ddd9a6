// Byte-level tokenizer: every byte is a token, plus a few special tokens.
//
// Why bytes: no vocabulary file to ship, version or mismatch, any input text is
// representable, and the id of a byte is the byte itself, so a token shard can be
// read with `od`. The model vocabulary (model.vocab_size) must be >= vocab_size().
//
//   ids 0..255  the byte with that value
//   256         <eod>  end of document (prepare_data appends one after every file)
//   257         <pad>  padding; never produced by encode()
//
// encode() never produces special tokens: the text "<eod>" encodes as its five
// bytes. So decode(encode(s)) == s for every byte string s; the reverse holds for
// id sequences without specials.
// Thread-safety: stateless; all functions may be called concurrently.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sadari {

class ByteTokenizer {
 public:
  static constexpr int32_t kByteTokens = 256;
  static constexpr int32_t kEod = 256;
  static constexpr int32_t kPad = 257;
  static constexpr int32_t kVocabSize = 258;

  int32_t vocab_size() const { return kVocabSize; }

  // One id per byte of `text`.
  std::vector<int32_t> encode(std::string_view text) const;

  // Bytes for byte ids, "<eod>" / "<pad>" for specials.
  // Throws Error for an id outside [0, vocab_size()).
  std::string decode(std::span<const int32_t> ids) const;

  // The text of one token: a one-byte string or a special's name.
  // Throws Error for an id outside [0, vocab_size()).
  static std::string token_text(int32_t id);

  static bool is_special(int32_t id) { return id >= kByteTokens && id < kVocabSize; }
};

}  // namespace sadari
