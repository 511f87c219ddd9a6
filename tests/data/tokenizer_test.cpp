#include "data/tokenizer.h"

#include <gtest/gtest.h>

#include "data_test_util.h"

namespace sadari {
namespace {

TEST(ByteTokenizer, VocabularyLayout) {
  ByteTokenizer tok;
  EXPECT_EQ(tok.vocab_size(), 258);
  EXPECT_EQ(ByteTokenizer::kEod, 256);
  EXPECT_EQ(ByteTokenizer::kPad, 257);
  EXPECT_TRUE(ByteTokenizer::is_special(256));
  EXPECT_FALSE(ByteTokenizer::is_special(255));
}

TEST(ByteTokenizer, EncodeIsByteValues) {
  ByteTokenizer tok;
  std::string text = "Az\n";
  text.push_back(static_cast<char>(0xFF));
  text.push_back('\0');
  std::vector<int32_t> ids = tok.encode(text);
  EXPECT_EQ(ids, (std::vector<int32_t>{'A', 'z', '\n', 255, 0}));
}

TEST(ByteTokenizer, RoundTripsEveryByte) {
  ByteTokenizer tok;
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  all += "UTF-8: \xed\x95\x9c\xea\xb8\x80 and a literal <eod>";
  EXPECT_EQ(tok.decode(tok.encode(all)), all);
}

TEST(ByteTokenizer, SpecialsDecodeToNamesAndAreNotEncoded) {
  ByteTokenizer tok;
  std::vector<int32_t> ids = {'h', 'i', ByteTokenizer::kEod, ByteTokenizer::kPad};
  EXPECT_EQ(tok.decode(ids), "hi<eod><pad>");
  // The text "<eod>" is five bytes, not the special token.
  EXPECT_EQ(tok.encode("<eod>").size(), 5u);
}

TEST(ByteTokenizer, DecodeRejectsIdsOutsideVocabulary) {
  ByteTokenizer tok;
  std::vector<int32_t> ids = {'a', 300};
  std::string message = testing::error_message([&] { tok.decode(ids); });
  EXPECT_NE(message.find("300"), std::string::npos) << message;
  std::vector<int32_t> negative = {-1};
  testing::error_message([&] { tok.decode(negative); });
}

}  // namespace
}  // namespace sadari
