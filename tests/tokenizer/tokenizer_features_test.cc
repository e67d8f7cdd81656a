// Behaviour that the oracle of hard_cases.json (transformers.js) does not share with Hugging Face
// tokenizers (Rust), checked against the Rust library's own unit tests and source instead:
// added-token single_word / lstrip / rstrip matching, normalized added tokens, invalid byte
// runs in the ByteFallback decoder, and unknown characters without an unknown token. Also the
// two spellings of merges.
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "text/tokenizer/tokenizer.h"

namespace tessera {
namespace {

using Json = nlohmann::json;

// Code points of valid UTF-8 text, each as its own string.
std::vector<std::string> Chars(const std::string& s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    const size_t n = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

// A BPE tokenizer without merges or pre-tokenizer whose vocabulary is every character of
// `alphabet`, plus `added` tokens (ids after the vocabulary): text that is not an added token
// encodes one id per character, so expected ids can be spelled as pieces.
class CharTokenizer {
 public:
  CharTokenizer(const std::string& alphabet, Json added, Json normalizer = nullptr) {
    Json vocab = Json::object();
    for (const std::string& c : Chars(alphabet)) {
      if (!ids_.count(c)) {
        const int32_t id = static_cast<int32_t>(ids_.size());
        ids_[c] = id;
        vocab[c] = id;
      }
    }
    for (Json& t : added) {
      t["id"] = static_cast<int32_t>(ids_.size() + added_.size());
      added_[t["content"].get<std::string>()] = t["id"];
    }
    Json j = {{"added_tokens", added},
              {"normalizer", normalizer},
              {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", Json::array()}}}};
    auto tok = Tokenizer::FromJson(j.dump());
    EXPECT_TRUE(tok.ok()) << tok.status();
    if (tok.ok()) tok_ = *std::move(tok);
  }

  // Pieces are {text, is_added_token}.
  std::vector<int32_t> Expected(const std::vector<std::pair<std::string, bool>>& pieces) const {
    std::vector<int32_t> ids;
    for (const auto& [text, added] : pieces) {
      if (added) {
        ids.push_back(added_.at(text));
      } else {
        for (const std::string& c : Chars(text)) ids.push_back(ids_.at(c));
      }
    }
    return ids;
  }

  std::vector<int32_t> Encode(const std::string& text) const {
    if (tok_ == nullptr) return {};
    auto ids = tok_->Encode(text, false);
    EXPECT_TRUE(ids.ok()) << ids.status();
    return ids.ok() ? *ids : std::vector<int32_t>{};
  }

 private:
  std::map<std::string, int32_t> ids_, added_;
  std::unique_ptr<Tokenizer> tok_;
};

Json Added(const std::string& content, bool single_word, bool lstrip, bool rstrip,
           bool special = false) {
  return {{"content", content}, {"single_word", single_word}, {"lstrip", lstrip},
          {"rstrip", rstrip},   {"normalized", false},        {"special", special}};
}

// Ported from huggingface/tokenizers, added_vocabulary.rs, test options_use_cases (its
// Lowercase normalizer is left out and the input given in lower case).
TEST(AddedTokenFlagsTest, OptionsUseCases) {
  const std::string text = "[CLS] my name is anthony [SEP]";
  CharTokenizer tok(text,
                    {Added("my", false, true, true), Added("name", false, false, false),
                     Added("ony", true, false, false), Added("[CLS]", false, false, false, true),
                     Added("[SEP]", false, false, false, true)});
  EXPECT_EQ(tok.Encode(text), tok.Expected({{"[CLS]", true},
                                            {"my", true},  // with both spaces around it
                                            {"name", true},
                                            {" is anthony ", false},  // "ony" is not a word here
                                            {"[SEP]", true}}));
}

// Ported from test_single_word_is_correct.
TEST(AddedTokenFlagsTest, SingleWord) {
  const std::string text = "<mask> my name <mask> a<mask> <mask>ony <mask>";
  CharTokenizer tok(text, {Added("<mask>", true, false, false)});
  EXPECT_EQ(tok.Encode(text), tok.Expected({{"<mask>", true},
                                            {" my name ", false},
                                            {"<mask>", true},
                                            {" a<mask> <mask>ony ", false},
                                            {"<mask>", true}}));
}

// Ported from test_single_word_is_unicode_correct: punctuation is not a word character, a
// combining mark (U+0330 after U+25CC) is, as in Rust's regex \w.
TEST(AddedTokenFlagsTest, SingleWordUnicode) {
  const std::string text = "<mask>, <mask>- \u25cc\u0330<mask>";
  CharTokenizer tok(text, {Added("<mask>", true, false, false)});
  EXPECT_EQ(
      tok.Encode(text),
      tok.Expected(
          {{"<mask>", true}, {", ", false}, {"<mask>", true}, {"- \u25cc\u0330<mask>", false}}));
}

// Ported from test_lstrip_unicode_space: tabs and U+2000 are whitespace to strip, and a
// token does not strip whitespace that the previous token already took.
TEST(AddedTokenFlagsTest, StripUnicodeSpace) {
  const std::string text = "hi <mask> there\t<mask>\t<mask>\u2000";
  CharTokenizer tok(text, {Added("<mask>", true, true, true)});
  EXPECT_EQ(
      tok.Encode(text),
      tok.Expected(
          {{"hi", false}, {"<mask>", true}, {"there", false}, {"<mask>", true}, {"<mask>", true}}));
}

// find_matches in added_vocabulary.rs walks Aho-Corasick's non-overlapping leftmost-longest
// matches and drops those that single_word rejects: the text a rejected match covered is not
// searched again, so "b" inside a rejected "ab" is not a match.
TEST(AddedTokenFlagsTest, RejectedSingleWordMatchHidesOverlappingTokens) {
  CharTokenizer tok("xab ", {Added("ab", true, false, false), Added("b", false, false, false)});
  EXPECT_EQ(tok.Encode("xab"), tok.Expected({{"xab", false}}));
  EXPECT_EQ(tok.Encode("xab b"), tok.Expected({{"xab ", false}, {"b", true}}));
  EXPECT_EQ(tok.Encode("x ab"), tok.Expected({{"x ", false}, {"ab", true}}));
}

// A normalized added token is matched in the normalized text, against its own normalized
// content (added_vocabulary.rs, refresh_added_tokens); others are matched in the raw text.
TEST(AddedTokenFlagsTest, NormalizedTokenMatchesNormalizedContent) {
  Json normalized = Added("a b", false, false, false);
  normalized["normalized"] = true;
  const Json replace = {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}};
  CharTokenizer tok("xabcd \u2581", {normalized, Added("c d", false, false, false)}, replace);
  // "▁" in the input normalizes to itself, so the normalized token matches it too.
  EXPECT_EQ(tok.Encode("xa\u2581b"), tok.Expected({{"x", false}, {"a b", true}}));
  EXPECT_EQ(tok.Encode("xa b"), tok.Expected({{"x", false}, {"a b", true}}));
  // A raw token is matched before normalization only.
  EXPECT_EQ(tok.Encode("c d"), tok.Expected({{"c d", true}}));
  EXPECT_EQ(tok.Encode("c\u2581d"), tok.Expected({{"c\u2581d", false}}));
}

Json ByteFallbackTokenizer() {
  Json vocab = {{"h", 256}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    vocab[name] = b;
  }
  return {{"model",
           {{"type", "BPE"}, {"vocab", vocab}, {"merges", Json::array()}, {"byte_fallback", true}}},
          {"decoder",
           {{"type", "Sequence"},
            {"decoders", Json::array({{{"type", "ByteFallback"}}, {{"type", "Fuse"}}})}}}};
}

// From huggingface/tokenizers, decoders/byte_fallback.rs (code and tests): a run of <0xNN>
// tokens is decoded as a whole; when it is not valid UTF-8, each of its bytes becomes U+FFFD.
TEST(ByteFallbackDecodeTest, InvalidRunsGiveOneReplacementPerByte) {
  auto tok = Tokenizer::FromJson(ByteFallbackTokenizer().dump());
  ASSERT_TRUE(tok.ok()) << tok.status();
  const int32_t h = 256;
  const std::string kFffd = "\xef\xbf\xbd";
  struct Case {
    std::vector<int32_t> ids;
    std::string text;
  };
  for (const Case& c : std::vector<Case>{
           {{0x61}, "a"},
           {{0xE5, 0x8F, 0xAB}, "\xe5\x8f\xab"},
           {{0xE5, 0x8F, 0xAB, h}, "\xe5\x8f\xabh"},
           {{0xE5, 0x8F}, kFffd + kFffd},
           {{0xE5, 0x8F, h}, kFffd + kFffd + "h"},
           {{0x41, 0xE5}, kFffd + kFffd},  // the valid 'A' is in the same invalid run
           {{0xE5, h, 0x8F, 0xAB}, kFffd + "h" + kFffd + kFffd},
           {{h, 0xC3, 0xA9, h, 0xC3}, "h\xc3\xa9h" + kFffd},
       }) {
    auto text = (*tok)->Decode(c.ids, false);
    ASSERT_TRUE(text.ok()) << text.status();
    EXPECT_EQ(*text, c.text) << Json(c.ids).dump();
  }
  // Encoding falls back to the bytes of characters that are not in the vocabulary.
  auto ids = (*tok)->Encode("h\xe5\x8f\xab", false);
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, (std::vector<int32_t>{h, 0xE5, 0x8F, 0xAB}));
}

// models/bpe/model.rs, merge_word: without an unknown token, characters that are not in the
// vocabulary are dropped, and the characters on either side can then merge.
TEST(UnknownCharacterTest, DroppedWithoutUnkToken) {
  const Json j = {
      {"model",
       {{"type", "BPE"}, {"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}}}, {"merges", {"a b"}}}}};
  auto tok = Tokenizer::FromJson(j.dump());
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ(*(*tok)->Encode("axb", false), (std::vector<int32_t>{2}));
  EXPECT_EQ(*(*tok)->Encode("zzz", false), (std::vector<int32_t>{}));
  EXPECT_EQ(*(*tok)->Encode("bxza", false), (std::vector<int32_t>{1, 0}));
}

// Merges written as "a b" strings and as ["a", "b"] pairs are the same merges; only pairs can
// spell a token that contains a space.
TEST(MergesFormatTest, StringsAndPairsAgree) {
  Json strings = {{"model",
                   {{"type", "BPE"},
                    {"vocab", {{"a", 0}, {"b", 1}, {"c", 2}, {"ab", 3}, {"bc", 4}, {"abc", 5}}},
                    {"merges", {"b c", "a b", "ab c"}}}}};
  Json pairs = strings;
  pairs["model"]["merges"] = Json::array({{"b", "c"}, {"a", "b"}, {"ab", "c"}});
  auto a = Tokenizer::FromJson(strings.dump());
  auto b = Tokenizer::FromJson(pairs.dump());
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  for (const std::string text : {"abc", "cba", "abcabc", "aabbcc", "bcab", "", "c"}) {
    EXPECT_EQ(*(*a)->Encode(text, false), *(*b)->Encode(text, false)) << text;
  }
  EXPECT_EQ(*(*a)->Encode("abc", false), (std::vector<int32_t>{0, 4}));  // "b c" ranks first

  Json spaced = {{"model",
                  {{"type", "BPE"},
                   {"vocab", {{"a", 0}, {" ", 1}, {"a ", 2}}},
                   {"merges", Json::array({{"a", " "}})}}}};
  auto s = Tokenizer::FromJson(spaced.dump());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*(*s)->Encode("a a", false), (std::vector<int32_t>{2, 0}));
}

}  // namespace
}  // namespace tessera
