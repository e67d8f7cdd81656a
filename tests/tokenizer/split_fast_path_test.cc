// Each hand-coded splitter (word_splitter.h) against the general path that runs its regex
// through Oniguruma (regex_split.h), as Hugging Face does: every split identical, on the texts of
// the fixtures' reference.json, hard_cases.json and onig_cases.json, and on random strings (any
// code point) and adversarial ones (runs of the characters the patterns treat specially).
// Then whole tokenizers: the llama3 and qwen3 fixtures with their Split pattern respelled so
// that no fast path recognises it encode every text to the same ids.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/tokenizer/test_data.h"
#include "text/tokenizer/regex_split.h"
#include "text/tokenizer/tokenizer.h"
#include "text/tokenizer/unicode_class.h"
#include "text/tokenizer/utf8.h"
#include "text/tokenizer/word_splitter.h"

namespace tessera::tokenizer {
namespace {

using Json = nlohmann::json;

std::vector<std::string> CorpusTexts() {
  std::vector<std::string> texts;
  const Json& hard = tokenizer_test::HardCases();
  for (const auto& [name, split] : hard["splits"].items()) {
    for (const Json& c : split["cases"]) texts.push_back(c["text"]);
  }
  for (const Json& t : tokenizer_test::OnigCases()["texts"]) texts.push_back(t);
  if (std::filesystem::exists(TOKENIZER_REFERENCE_JSON)) {
    const Json ref = Json::parse(tokenizer_test::ReadFile(TOKENIZER_REFERENCE_JSON));
    for (const auto& [name, cases] : ref["tokenizers"].items()) {
      for (const Json& c : cases) texts.push_back(c["text"]);
    }
  }
  return texts;
}

// Code points the patterns single out: contraction letters (with U+017F, which case-folds to
// s, and the Kelvin sign, which folds to k), apostrophes, every kind of whitespace, newlines,
// digits of several scripts, letters, marks, punctuation, symbols and emoji.
constexpr char32_t kAdversarial[] = {
    U'\'',   U's',    U'S',   U't',   U'T',   U'r',     U'R',   U'e',   U'v',   U'm',   U'l',
    U'L',    U'd',    U'D',   0x017F, 0x212A, U'k',     U' ',   U' ',   U' ',   U'\t',  U'\n',
    U'\r',   0x0B,    0x0C,   0x85,   0xA0,   0x1680,   0x2028, 0x2029, 0x3000, 0x200B, 0xFEFF,
    U'0',    U'7',    0x0663, 0x0967, 0xFF11, 0xB2,     0x2167, U'a',   U'Z',   0xE9,   0x0301,
    0x0915,  0x094D,  0x4E2D, 0x3042, 0xAC00, U'!',     U'.',   U'/',   U'-',   U'_',   0x2019,
    0x1F600, 0x1F3FD, 0x200D, U'<',   U'|',   0x10FFFF, 0x0};

// The fast paths classify code points with utf8proc, Oniguruma with its own tables, and the two
// may follow different Unicode versions (Debian 12: utf8proc 2.8 has Unicode 15.0, Oniguruma
// 6.9.8 has 14.0, so CJK Extension H is letters to one and unassigned to the other). Random
// strings leave out the code points on which the tables disagree, and count them.
class UnicodeTables {
 public:
  UnicodeTables() {
    for (const char* p : {R"(\p{L})", R"(\p{N})", R"(\s)"}) {
      classes_.push_back(*RegexPattern::Compile(p));
    }
  }
  bool Agree(char32_t cp) const {
    std::string s;
    AppendUtf8(cp, &s);
    const CharClass c = ClassOf(cp);
    const CharClass as[] = {kLetter, kNumber, kWhitespace};
    for (size_t i = 0; i < classes_.size(); ++i) {
      std::vector<RegexMatch> m;
      if (!classes_[i]->FindAll(s, &m).ok()) return false;
      if (!m.empty() != (c == as[i])) return false;
    }
    return true;
  }

 private:
  std::vector<std::unique_ptr<RegexPattern>> classes_;
};

struct RandomTexts {
  explicit RandomTexts(uint32_t seed) : rng(seed) {}

  std::mt19937 rng;
  UnicodeTables tables;
  int left_out = 0;  // code points drawn on which the Unicode tables disagree

  std::string Next(bool adversarial) {
    std::string text;
    const int length = std::uniform_int_distribution<int>(1, 24)(rng);
    for (int i = 0; i < length; ++i) {
      char32_t cp;
      if (adversarial) {
        cp = kAdversarial[rng() % std::size(kAdversarial)];
      } else {
        // Mostly the Basic Multilingual Plane, where the scripts are; any scalar value.
        cp = rng() % 4 != 0 ? rng() % 0x10000 : rng() % 0x110000;
        if (cp >= 0xD800 && cp <= 0xDFFF) cp = U'x';
        if (!tables.Agree(cp)) {
          ++left_out;
          continue;
        }
      }
      AppendUtf8(cp, &text);
    }
    return text.empty() ? "x" : text;
  }
};

struct PatternCase {
  const char* name;
  SplitPattern pattern;
};

class SplitFastPathTest : public ::testing::TestWithParam<PatternCase> {
 protected:
  void SetUp() override {
    auto compiled = RegexPattern::Compile(SplitPatternRegex(GetParam().pattern));
    ASSERT_TRUE(compiled.ok()) << compiled.status();
    general_ = std::make_unique<RegexSplitter>(*std::move(compiled), SplitBehavior::kIsolated,
                                               /*invert=*/false);
  }

  // Whether the two paths split `text` alike; records a failure naming the text when not.
  bool Same(const std::string& text) {
    std::vector<std::string_view> fast, general;
    SplitWords(text, GetParam().pattern, &fast);
    const absl::Status s = general_->Split(text, &general);
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_EQ(std::vector<std::string>(fast.begin(), fast.end()),
              std::vector<std::string>(general.begin(), general.end()))
        << "text: " << Json(text).dump();
    return fast == general;
  }

  std::unique_ptr<RegexSplitter> general_;
};

TEST_P(SplitFastPathTest, SameSplitsOnCorpora) {
  const std::vector<std::string> texts = CorpusTexts();
  ASSERT_GE(texts.size(), 500u);
  int same = 0;
  for (const std::string& text : texts) same += Same(text);
  EXPECT_EQ(same, static_cast<int>(texts.size()));
}

TEST_P(SplitFastPathTest, SameSplitsOnRandomAndAdversarialStrings) {
  RandomTexts random(20261205);
  constexpr int kStrings = 20000;
  int same = 0;
  for (int i = 0; i < kStrings; ++i) same += Same(random.Next(/*adversarial=*/i % 2 == 0));
  EXPECT_EQ(same, kStrings);
  std::printf("%d strings; %d random code points left out (Unicode tables disagree)\n", kStrings,
              random.left_out);
}

INSTANTIATE_TEST_SUITE_P(Patterns, SplitFastPathTest,
                         ::testing::Values(PatternCase{"gpt2", SplitPattern::kGpt2},
                                           PatternCase{"llama3", SplitPattern::kLlama3},
                                           PatternCase{"qwen2", SplitPattern::kQwen2}),
                         [](const auto& info) { return std::string(info.param.name); });

// Every Split pattern of `pre_tokenizer` wrapped in a non-capturing group: the same regex to
// Oniguruma, but not one that RecognizeSplitPattern knows. Returns how many it wrapped.
int RespellSplitPatterns(Json* pre_tokenizer) {
  if ((*pre_tokenizer)["type"] == "Sequence") {
    int n = 0;
    for (Json& p : (*pre_tokenizer)["pretokenizers"]) n += RespellSplitPatterns(&p);
    return n;
  }
  if ((*pre_tokenizer)["type"] != "Split") return 0;
  Json& regex = (*pre_tokenizer)["pattern"]["Regex"];
  regex = "(?:" + regex.get<std::string>() + ")";
  return 1;
}

class TokenizerFastPathTest : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerFastPathTest, SameIdsThroughOniguruma) {
  if (!tokenizer_test::HasFixture(GetParam())) GTEST_SKIP() << "tokenizer fixtures not available";
  const std::filesystem::path dir = tokenizer_test::FixtureDir(GetParam());
  Json json = Json::parse(tokenizer_test::ReadFile(dir / "tokenizer.json"));
  ASSERT_EQ(RespellSplitPatterns(&json["pre_tokenizer"]), 1);
  auto fast = Tokenizer::Load(dir);
  ASSERT_TRUE(fast.ok()) << fast.status();
  auto general = Tokenizer::FromJson(json.dump());
  ASSERT_TRUE(general.ok()) << general.status();
  std::vector<std::string> texts = CorpusTexts();
  RandomTexts random(17);
  for (int i = 0; i < 2000; ++i) texts.push_back(random.Next(/*adversarial=*/i % 2 == 0));
  int same = 0;
  for (const std::string& text : texts) {
    auto a = (*fast)->Encode(text, /*add_special_tokens=*/false);
    auto b = (*general)->Encode(text, /*add_special_tokens=*/false);
    ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
    EXPECT_EQ(*a, *b) << "text: " << Json(text).dump();
    same += *a == *b;
  }
  EXPECT_EQ(same, static_cast<int>(texts.size()));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TokenizerFastPathTest, ::testing::Values("llama3", "qwen3"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace tessera::tokenizer
