#include "data/tokenizer.h"

#include "core/error.h"

namespace sadari {

namespace {
void check_id(int32_t id) {
  if (id < 0 || id >= ByteTokenizer::kVocabSize)
    fail(detail::cat("token id ", id, " is outside the byte tokenizer's vocabulary [0, ",
                     ByteTokenizer::kVocabSize, ")"),
         "tokenizer", "the ids were not produced by the byte tokenizer");
}
}  // namespace

std::vector<int32_t> ByteTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size());
  // Through unsigned char: plain char may be signed, and byte 0xFF must be id 255.
  for (char c : text) ids.push_back(static_cast<unsigned char>(c));
  return ids;
}

std::string ByteTokenizer::token_text(int32_t id) {
  check_id(id);
  if (id == kEod) return "<eod>";
  if (id == kPad) return "<pad>";
  return std::string(1, static_cast<char>(static_cast<unsigned char>(id)));
}

std::string ByteTokenizer::decode(std::span<const int32_t> ids) const {
  std::string text;
  text.reserve(ids.size());
  for (int32_t id : ids) {
    if (id >= 0 && id < kByteTokens)
      text.push_back(static_cast<char>(static_cast<unsigned char>(id)));
    else
      text += token_text(id);  // specials, or throws for out-of-range ids
  }
  return text;
}

}  // namespace sadari
