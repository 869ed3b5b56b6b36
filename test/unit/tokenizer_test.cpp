// Tests the tokenizer's fixed facts: special-token layouts, known ids,
// lossy UTF-8 repair, and that the heap and linear merges agree.
#include "steer/text/tokenizer.h"

#include <gtest/gtest.h>

namespace steer {
namespace {

TEST(Tokenizer, Layouts) {
  auto base = Tokenizer::create(TokenizerLayout::kBase);
  auto inst = Tokenizer::create(TokenizerLayout::kInstruct);
  ASSERT_TRUE(base.ok() && inst.ok());
  EXPECT_EQ((*base)->vocabSize(), 100281);
  EXPECT_EQ((*inst)->vocabSize(), 100284);
  EXPECT_EQ((*base)->specialName(100257), "<|endoftext|>");
  EXPECT_EQ((*base)->specialName(100276), "<|endofprompt|>");
  EXPECT_EQ((*base)->specialName(100277), "<|pad|>");
  EXPECT_EQ((*base)->specialName(100278), "<|bos|>");
  EXPECT_EQ((*base)->specialName(100279), "<|endofchunk|>");
  EXPECT_EQ((*base)->specialName(100280), "<|mask|>");
  EXPECT_EQ((*base)->specialName(100281), "");
  EXPECT_EQ((*inst)->specialName(100281), "<|start_header_id|>");
  EXPECT_EQ((*inst)->specialName(100283), "<|eot_id|>");
  EXPECT_FALSE((*base)->isSpecial(100265));
}

TEST(Tokenizer, KnownIds) {
  auto t = Tokenizer::create(TokenizerLayout::kBase);
  ASSERT_TRUE(t.ok());
  auto ids = (*t)->encode("Hello world");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int32_t>{9906, 1917}));
  auto empty = (*t)->encode("");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  Status bad = (*t)->encode("ok\xff").status();
  EXPECT_NE(bad.toString().find("not valid UTF-8 at byte 2"),
            std::string::npos);
}

TEST(Tokenizer, LongWordMergesLikeShortPieces) {
  // 300 letters take the heap merge; the same text split into short pieces
  // by spaces takes the linear one. Both must round-trip exactly.
  auto t = Tokenizer::create(TokenizerLayout::kBase);
  ASSERT_TRUE(t.ok());
  std::string word;
  for (int i = 0; i < 300; ++i)
    word += "abcdefghij"[i * 7 % 10];
  auto ids = (*t)->encode(word);
  ASSERT_TRUE(ids.ok());
  std::vector<int64_t> wide(ids->begin(), ids->end());
  auto back = (*t)->decode(wide);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, word);
}

TEST(Utf8Lossy, ReplacesMaximalSubparts) {
  EXPECT_EQ(utf8Lossy("abc"), "abc");
  EXPECT_EQ(utf8Lossy("\xf0\x9f\x98"), "\xef\xbf\xbd"); // truncated 4-byte
  EXPECT_EQ(utf8Lossy("\xff"
                      "a"),
            "\xef\xbf\xbd"
            "a"); // bad lead
  EXPECT_EQ(utf8Lossy("\xe0\x80\x80"),
            "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); // overlong
  EXPECT_EQ(utf8Lossy("\xed\xa0\x80"),
            "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); // surrogate
  EXPECT_EQ(utf8Lossy("\xe2\x82"
                      "x"),
            "\xef\xbf\xbd"
            "x"); // 2 of 3 bytes
}

} // namespace
} // namespace steer
