// The hand-written splitter against the regexes it replaces. The expected pieces in
// hard_cases.json come from JavaScript's regex engine running each tokenizer.json Split pattern
// (flags "gu"), with \s spelled \p{White_Space} and the (?i:...) contractions spelled as the
// classes JavaScript's case folding gives, which is what Oniguruma (used by Hugging Face
// tokenizers) means by them; see refgen/gen_hard_cases.mjs.
#include "text/tokenizer/word_splitter.h"

#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/tokenizer/test_data.h"

namespace tessera::tokenizer {
namespace {

struct PatternCase {
  const char* name;  // key in hard_cases.json "splits"
  SplitPattern pattern;
};

class WordSplitterTest : public ::testing::TestWithParam<PatternCase> {};

TEST_P(WordSplitterTest, RecognizesItsRegex) {
  const auto& splits = tokenizer_test::HardCases()["splits"][GetParam().name];
  const auto recognized = RecognizeSplitPattern(splits["regex"].get<std::string>());
  ASSERT_TRUE(recognized.has_value());
  EXPECT_EQ(*recognized, GetParam().pattern);
}

TEST_P(WordSplitterTest, MatchesRegexEngine) {
  const auto& cases = tokenizer_test::HardCases()["splits"][GetParam().name]["cases"];
  ASSERT_GE(cases.size(), 50u);
  for (const auto& c : cases) {
    const std::string text = c["text"].get<std::string>();
    std::vector<std::string_view> pieces;
    SplitWords(text, GetParam().pattern, &pieces);
    EXPECT_EQ(std::vector<std::string>(pieces.begin(), pieces.end()),
              c["pieces"].get<std::vector<std::string>>())
        << "text: " << nlohmann::json(text).dump();
  }
}

INSTANTIATE_TEST_SUITE_P(Patterns, WordSplitterTest,
                         ::testing::Values(PatternCase{"gpt2", SplitPattern::kGpt2},
                                           PatternCase{"llama3", SplitPattern::kLlama3},
                                           PatternCase{"qwen2", SplitPattern::kQwen2}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(WordSplitterTest, RejectsOtherRegexes) {
  EXPECT_FALSE(RecognizeSplitPattern(R"(\s+)").has_value());
  // The Llama 3 regex with one character changed.
  std::string llama3 = tokenizer_test::HardCases()["splits"]["llama3"]["regex"];
  llama3.back() = '*';
  EXPECT_FALSE(RecognizeSplitPattern(llama3).has_value());
}

}  // namespace
}  // namespace tessera::tokenizer
