// The general (Oniguruma) path of the Split pre-tokenizer and of the Replace normalizer and
// decoder, against Hugging Face tokenizers' own output in onig_cases.json (see
// refgen/gen_onig_cases.py): every behavior, invert, String patterns, empty matches, lookbehind.
// Then what a bad pattern and a catastrophic one do: a clear load error naming the pattern and
// Oniguruma's message, and a bounded failure instead of a hang.
#include "text/tokenizer/regex_split.h"

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/tokenizer/test_data.h"
#include "text/tokenizer/decoder.h"
#include "text/tokenizer/normalizer.h"
#include "text/tokenizer/pre_tokenizer.h"
#include "text/tokenizer/regex_pattern.h"
#include "text/tokenizer/tokenizer.h"

namespace tessera::tokenizer {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Json = nlohmann::json;

std::vector<std::string> PreTokenize(const PreTokenizer& p, std::string_view text) {
  std::vector<std::string> words;
  const absl::Status s = p.Apply(text, &words);
  EXPECT_TRUE(s.ok()) << s;
  return words;
}

PreTokenizer SplitOf(std::string_view pattern, std::string_view behavior, bool invert = false,
                     std::string_view kind = "Regex") {
  const Json json = {{"type", "Split"},
                     {"pattern", {{std::string(kind), std::string(pattern)}}},
                     {"behavior", std::string(behavior)},
                     {"invert", invert}};
  auto p = PreTokenizer::FromJson(json, "test");
  EXPECT_TRUE(p.ok()) << p.status();
  return *std::move(p);
}

// The example of Hugging Face's SplitDelimiterBehavior documentation.
TEST(RegexSplitTest, BehaviorsAsDocumented) {
  const std::string text = "the-final--countdown";
  EXPECT_THAT(PreTokenize(SplitOf("-", "Removed", false, "String"), text),
              ElementsAre("the", "final", "countdown"));
  EXPECT_THAT(PreTokenize(SplitOf("-", "Isolated", false, "String"), text),
              ElementsAre("the", "-", "final", "-", "-", "countdown"));
  EXPECT_THAT(PreTokenize(SplitOf("-", "MergedWithPrevious", false, "String"), text),
              ElementsAre("the-", "final-", "-", "countdown"));
  EXPECT_THAT(PreTokenize(SplitOf("-", "MergedWithNext", false, "String"), text),
              ElementsAre("the", "-final", "-", "-countdown"));
  EXPECT_THAT(PreTokenize(SplitOf("-", "Contiguous", false, "String"), text),
              ElementsAre("the", "-", "final", "--", "countdown"));
}

TEST(RegexSplitTest, InvertKeepsWhatMatches) {
  EXPECT_THAT(PreTokenize(SplitOf(R"(\d+)", "Removed", /*invert=*/true), "ab12cd345"),
              ElementsAre("12", "345"));
}

TEST(RegexSplitTest, StringPatternIsLiteral) {
  EXPECT_THAT(PreTokenize(SplitOf("a.b", "Isolated", false, "String"), "axb a.b"),
              ElementsAre("axb ", "a.b"));
  EXPECT_EQ(RegexPattern::Escape("a.b(c)*"), R"(a\.b\(c\)\*)");
}

// Every Split case of onig_cases.json: the same pieces as pre_tokenize_str.
TEST(RegexSplitTest, MatchesHuggingFaceSplits) {
  const Json& cases = tokenizer_test::OnigCases();
  const Json& texts = cases["texts"];
  ASSERT_GE(cases["splits"].size(), 30u);
  int compared = 0;
  for (const Json& split : cases["splits"]) {
    SCOPED_TRACE(split["pre_tokenizer"].dump());
    auto p = PreTokenizer::FromJson(split["pre_tokenizer"], "onig_cases.json");
    ASSERT_TRUE(p.ok()) << p.status();
    ASSERT_EQ(split["pieces"].size(), texts.size());
    for (size_t i = 0; i < texts.size(); ++i) {
      const std::string text = texts[i].get<std::string>();
      const auto offsets = split["pieces"][i].get<std::vector<size_t>>();
      std::vector<std::string> want;
      for (size_t k = 0; k + 1 < offsets.size(); k += 2) {
        want.push_back(text.substr(offsets[k], offsets[k + 1] - offsets[k]));
      }
      EXPECT_EQ(PreTokenize(*p, text), want) << "text: " << Json(text).dump();
      ++compared;
    }
  }
  EXPECT_GE(compared, 10000);
}

TEST(RegexSplitTest, MatchesHuggingFaceReplaceNormalizers) {
  const Json& cases = tokenizer_test::OnigCases();
  const Json& texts = cases["texts"];
  ASSERT_GE(cases["replace_normalizers"].size(), 3u);
  for (const Json& c : cases["replace_normalizers"]) {
    SCOPED_TRACE(c["normalizer"].dump());
    auto n = Normalizer::FromJson(c["normalizer"], "onig_cases.json");
    ASSERT_TRUE(n.ok()) << n.status();
    for (size_t i = 0; i < texts.size(); ++i) {
      const std::string text = texts[i].get<std::string>();
      auto got = n->Apply(text);
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(*got, c["normalized"][i].get<std::string>()) << "text: " << Json(text).dump();
    }
  }
}

TEST(RegexSplitTest, MatchesHuggingFaceReplaceDecoders) {
  const Json& cases = tokenizer_test::OnigCases();
  ASSERT_GE(cases["replace_decoders"].size(), 2u);
  for (const Json& c : cases["replace_decoders"]) {
    SCOPED_TRACE(c["decoder"].dump());
    auto d = Decoder::FromJson(c["decoder"], "onig_cases.json");
    ASSERT_TRUE(d.ok()) << d.status();
    for (size_t i = 0; i < c["tokens"].size(); ++i) {
      const auto tokens = c["tokens"][i].get<std::vector<std::string>>();
      auto got = d->Decode(tokens);
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(*got, c["decoded"][i].get<std::string>()) << "tokens: " << Json(tokens).dump();
    }
  }
}

// A tokenizer.json with `pre_tokenizer` and a one-token byte-level vocabulary.
std::string TokenizerWith(const Json& pre_tokenizer, const Json& normalizer = nullptr) {
  return Json{{"normalizer", normalizer},
              {"pre_tokenizer", pre_tokenizer},
              {"decoder", {{"type", "ByteLevel"}}},
              {"model", {{"type", "BPE"}, {"vocab", {{"a", 0}}}, {"merges", Json::array()}}}}
      .dump();
}

TEST(RegexSplitTest, BadPatternNamesPatternAndOnigurumaMessage) {
  for (const auto& [pattern, message] : std::vector<std::pair<std::string, std::string>>{
           {"(unclosed", "end pattern with unmatched parenthesis"},
           {"[z-a]", "empty range in char class"},
           {"*a", "target of repeat operator is not specified"},
           {R"(\p{NoSuchProperty})", "invalid character property name"}}) {
    SCOPED_TRACE(pattern);
    for (const Json& component :
         {Json{{"type", "Split"}, {"pattern", {{"Regex", pattern}}}, {"behavior", "Isolated"}}}) {
      auto tok = Tokenizer::FromJson(TokenizerWith(component));
      ASSERT_FALSE(tok.ok());
      EXPECT_EQ(tok.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(std::string(tok.status().message()), HasSubstr("pre_tokenizer Split"));
      EXPECT_THAT(std::string(tok.status().message()), HasSubstr(Json(pattern).dump()));
      EXPECT_THAT(std::string(tok.status().message()), HasSubstr(message));
    }
    const Json replace = {{"type", "Replace"}, {"pattern", {{"Regex", pattern}}}, {"content", ""}};
    auto tok = Tokenizer::FromJson(TokenizerWith(nullptr, replace));
    ASSERT_FALSE(tok.ok());
    EXPECT_THAT(std::string(tok.status().message()), HasSubstr("normalizer Replace"));
    EXPECT_THAT(std::string(tok.status().message()), HasSubstr(message));
    auto decoder = Decoder::FromJson(replace, "test");
    ASSERT_FALSE(decoder.ok());
    EXPECT_THAT(std::string(decoder.status().message()), HasSubstr("decoder Replace"));
    EXPECT_THAT(std::string(decoder.status().message()), HasSubstr(message));
  }
}

TEST(RegexSplitTest, BadBehaviorAndPatternShape) {
  auto bad_behavior = PreTokenizer::FromJson(
      Json{{"type", "Split"}, {"pattern", {{"Regex", "x"}}}, {"behavior", "Dropped"}}, "test");
  ASSERT_FALSE(bad_behavior.ok());
  EXPECT_THAT(std::string(bad_behavior.status().message()), HasSubstr("\"Dropped\""));
  auto bad_pattern = PreTokenizer::FromJson(
      Json{{"type", "Split"}, {"pattern", "x"}, {"behavior", "Isolated"}}, "test");
  ASSERT_FALSE(bad_pattern.ok());
  EXPECT_THAT(std::string(bad_pattern.status().message()), HasSubstr("\"pattern\" must be"));
}

// (a|aa)+$ on n a's and a b backtracks through every composition of n into 1s and 2s (the
// Fibonacci number F(n+1), about 10^20 for n = 100) before it fails: without a limit this runs
// for centuries. The limit stops it and Encode says which pattern gave up.
TEST(RegexSplitTest, CatastrophicPatternFailsInsteadOfHanging) {
  const std::string pattern = "(a|aa)+$";
  const Json split = {
      {"type", "Split"}, {"pattern", {{"Regex", pattern}}}, {"behavior", "Isolated"}};
  auto tok = Tokenizer::FromJson(TokenizerWith(split));
  ASSERT_TRUE(tok.ok()) << tok.status();
  auto ids = (*tok)->Encode(std::string(100, 'a') + "b", /*add_special_tokens=*/false);
  ASSERT_FALSE(ids.ok());
  EXPECT_EQ(ids.status().code(), absl::StatusCode::kResourceExhausted) << ids.status();
  EXPECT_THAT(std::string(ids.status().message()), HasSubstr(Json(pattern).dump()));
  EXPECT_THAT(std::string(ids.status().message()), HasSubstr("retry-limit"));

  // The same through a Replace normalizer.
  const Json replace = {{"type", "Replace"}, {"pattern", {{"Regex", pattern}}}, {"content", ""}};
  auto n = Normalizer::FromJson(replace, "test");
  ASSERT_TRUE(n.ok()) << n.status();
  auto normalized = n->Apply(std::string(100, 'a') + "b");
  EXPECT_EQ(normalized.status().code(), absl::StatusCode::kResourceExhausted);
}

// The limits leave room for real patterns on long texts: o200k's pattern backtracks over a
// whole run of spaces or capitals before it matches it, and DeepSeek's digit split tries every
// position of a text with no digits.
TEST(RegexSplitTest, LongTextsStayWithinTheLimits) {
  const Json& cases = tokenizer_test::OnigCases()["tokenizers"];
  const Json& o200k = cases["o200k"]["tokenizer"]["pre_tokenizer"]["pretokenizers"][0];
  const Json& digits = cases["deepseek_v3"]["tokenizer"]["pre_tokenizer"]["pretokenizers"][0];
  std::string prose;
  while (prose.size() < (size_t{4} << 20)) prose += "Words, and no digits at all. ";
  for (const auto& [split, text] : std::vector<std::pair<const Json*, std::string>>{
           {&o200k, std::string(2'000'000, ' ') + "x"},
           {&o200k, std::string(2'000'000, 'A') + "a"},
           {&o200k, std::string(2'000'000, '\n')},
           {&o200k, std::string(2'000'000, '!') + " x"},
           {&digits, prose}}) {
    const PreTokenizer p = *PreTokenizer::FromJson(*split, "onig_cases.json");
    std::vector<std::string> words;
    const absl::Status s = p.Apply(text, &words);
    ASSERT_TRUE(s.ok()) << s;
    size_t bytes = 0;
    for (const std::string& w : words) bytes += w.size();
    EXPECT_EQ(bytes, text.size());
  }
}

TEST(RegexSplitTest, FindAllRefusesInvalidUtf8) {
  auto re = RegexPattern::Compile("x");
  ASSERT_TRUE(re.ok());
  std::vector<RegexMatch> matches;
  EXPECT_EQ((*re)->FindAll("ab\xC0\xAF", &matches).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tessera::tokenizer
