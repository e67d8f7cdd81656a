#include "authoring/bpe_merge_learner.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tessera::tokenizer {
namespace {

// U+0120, the byte-level spelling of a space.
constexpr char kSpace[] = "\xC4\xA0";

TEST(BpeMergeLearnerTest, MergesTheMostFrequentPairFirstAndBreaksTiesByBytes) {
  // Words: "ab" once, " ab" twice, " cd" once. (a, b) occurs 3 times, then (Ġ, ab) twice; then
  // (Ġ, c) and (c, d) tie at once each and "c" sorts before "Ġ" (0xC4 0xA0).
  auto merges = LearnByteLevelMerges("ab ab ab cd", 10);
  ASSERT_TRUE(merges.ok()) << merges.status();
  const std::vector<BpeMerge> want = {{"a", "b"}, {kSpace, "ab"}, {"c", "d"}, {kSpace, "cd"}};
  // Every word is one token after four merges: there is nothing left to merge.
  EXPECT_EQ(*merges, want);
}

TEST(BpeMergeLearnerTest, StopsAfterTheRequestedNumberOfTokens) {
  auto merges = LearnByteLevelMerges("ab ab ab cd", 2);
  ASSERT_TRUE(merges.ok()) << merges.status();
  const std::vector<BpeMerge> want = {{"a", "b"}, {kSpace, "ab"}};
  EXPECT_EQ(*merges, want);
  auto none = LearnByteLevelMerges("ab ab ab cd", 0);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(BpeMergeLearnerTest, WorksOnBytesOfNonAsciiText) {
  // "é" is C3 A9, spelled "Ã©" in byte-level characters: its two bytes merge first.
  auto merges = LearnByteLevelMerges("\xC3\xA9\xC3\xA9\xC3\xA9", 1);
  ASSERT_TRUE(merges.ok()) << merges.status();
  ASSERT_EQ(merges->size(), 1u);
  EXPECT_EQ((*merges)[0], BpeMerge("\xC3\x83", "\xC2\xA9"));
}

TEST(BpeMergeLearnerTest, DoesNotMergeAcrossWords) {
  // The Llama 3 pattern splits "a!" into "a" and "!": no merge can join them.
  auto merges = LearnByteLevelMerges("a! a! a!", 100);
  ASSERT_TRUE(merges.ok()) << merges.status();
  for (const auto& [left, right] : *merges) {
    EXPECT_FALSE(left.back() == 'a' && right.front() == '!') << left << " " << right;
  }
}

TEST(BpeMergeLearnerTest, IsDeterministic) {
  const std::string text =
      "the quick brown fox jumps over the lazy dog; the dog sleeps, the fox runs away 123 4567";
  auto a = LearnByteLevelMerges(text, 40);
  auto b = LearnByteLevelMerges(text, 40);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(a->size(), 40u);
}

TEST(BpeMergeLearnerTest, RefusesInvalidUtf8) {
  auto merges = LearnByteLevelMerges("caf\xE9", 4);
  ASSERT_FALSE(merges.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(merges.status()));
  EXPECT_NE(merges.status().message().find("byte offset 3"), std::string::npos) << merges.status();
}

}  // namespace
}  // namespace tessera::tokenizer
