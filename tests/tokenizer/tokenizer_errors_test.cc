// Hostile input: malformed tokenizer.json files are refused with an InvalidArgument error that
// names the offending component, text that is not valid UTF-8 is refused with the byte offset
// of the first bad byte, and ids outside the vocabulary cannot be decoded.
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "text/tokenizer/tokenizer.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

// A complete, valid tokenizer.json; each test breaks one part of it.
Json ValidTokenizer() {
  return Json::parse(R"({
    "added_tokens": [{"id": 4, "content": "<s>", "special": true}],
    "normalizer": {"type": "NFC"},
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
    "post_processor": {"type": "ByteLevel"},
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "c": 3}, "merges": ["a b"]}
  })");
}

// Loading `json` fails with InvalidArgument whose message contains `component`.
void ExpectRefused(const std::string& json, const std::string& component) {
  auto tok = Tokenizer::FromJson(json);
  ASSERT_FALSE(tok.ok()) << "accepted: " << json;
  EXPECT_EQ(tok.status().code(), absl::StatusCode::kInvalidArgument) << tok.status();
  EXPECT_THAT(std::string(tok.status().message()), HasSubstr(component)) << json;
}

TEST(TokenizerErrorsTest, ValidBaseLoads) {
  auto tok = Tokenizer::FromJson(ValidTokenizer().dump());
  ASSERT_TRUE(tok.ok()) << tok.status();
}

TEST(TokenizerErrorsTest, NotJson) {
  ExpectRefused("{\"model\": ", "JSON");
  ExpectRefused("", "JSON");
  ExpectRefused("[1, 2]", "tokenizer.json");
}

TEST(TokenizerErrorsTest, MissingModel) {
  Json j = ValidTokenizer();
  j.erase("model");
  ExpectRefused(j.dump(), "model");
  j["model"] = nullptr;
  ExpectRefused(j.dump(), "model");
}

TEST(TokenizerErrorsTest, UnknownModelType) {
  Json j = ValidTokenizer();
  j["model"]["type"] = "WordPiece";
  ExpectRefused(j.dump(), "WordPiece");
  j["model"]["type"] = "Unigram";
  ExpectRefused(j.dump(), "model type");
}

TEST(TokenizerErrorsTest, UnknownComponentTypes) {
  for (const auto& [key, type, component] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"normalizer", "Lowercase", "normalizer"},
           {"pre_tokenizer", "Whitespace", "pre_tokenizer"},
           {"decoder", "WordPiece", "decoder"},
           {"post_processor", "BertProcessing", "post_processor"}}) {
    SCOPED_TRACE(key);
    Json j = ValidTokenizer();
    j[key] = {{"type", type}};
    ExpectRefused(j.dump(), component);
    ExpectRefused(j.dump(), type);
    // The same inside a Sequence.
    const std::string list = key == "normalizer"      ? "normalizers"
                             : key == "pre_tokenizer" ? "pretokenizers"
                             : key == "decoder"       ? "decoders"
                                                      : "processors";
    j[key] = {{"type", "Sequence"}, {list, Json::array({{{"type", type}}})}};
    ExpectRefused(j.dump(), component);
  }
}

TEST(TokenizerErrorsTest, MergeWithUnknownToken) {
  Json j = ValidTokenizer();
  j["model"]["merges"] = {"a b", "a z"};
  ExpectRefused(j.dump(), "merges[1]");
  j["model"]["merges"] = Json::array({Json::array({"b", "c"})});  // "bc" is not in the vocab
  ExpectRefused(j.dump(), "merges[0]");
  j["model"]["merges"] = {"a b c"};
  ExpectRefused(j.dump(), "merges[0]");
}

TEST(TokenizerErrorsTest, BadVocab) {
  Json j = ValidTokenizer();
  // Unigram-style [token, score] lists are not a BPE vocab.
  j["model"]["vocab"] = Json::array({Json::array({"a", 0.0})});
  ExpectRefused(j.dump(), "vocab");
  j["model"]["vocab"] = {{"a", "0"}};
  ExpectRefused(j.dump(), "vocab");
  j["model"]["vocab"] = {{"a", 1.5}};
  ExpectRefused(j.dump(), "vocab");
}

TEST(TokenizerErrorsTest, NegativeVocabId) {
  Json j = ValidTokenizer();
  j["model"]["vocab"]["c"] = -1;
  ExpectRefused(j.dump(), "vocab");
}

TEST(TokenizerErrorsTest, DuplicateVocabId) {
  // Two tokens with one id would make decoding that id depend on the order of the JSON keys.
  Json j = ValidTokenizer();
  j["model"]["vocab"]["c"] = 1;
  ExpectRefused(j.dump(), "vocab");
}

TEST(TokenizerErrorsTest, UnknownUnkToken) {
  Json j = ValidTokenizer();
  j["model"]["unk_token"] = "<unk>";
  ExpectRefused(j.dump(), "unk_token");
}

// Encode reports the offset of the first byte that is not part of well-formed UTF-8 (the
// Unicode table of well-formed byte sequences).
TEST(TokenizerErrorsTest, InvalidUtf8Input) {
  auto tok = Tokenizer::FromJson(ValidTokenizer().dump());
  ASSERT_TRUE(tok.ok()) << tok.status();
  struct Case {
    std::string text;
    size_t offset;
  };
  for (const Case& c : std::vector<Case>{
           {"ab\x80", 2},  // lone continuation byte
           {"\xbf"
            "ab",
            0},                       // continuation byte first
           {"abc\xe4\xbd", 3},        // truncated 3-byte sequence at the end
           {"a\xe4\xbdz", 1},         // truncated sequence followed by ASCII
           {"\xf0\x9f\x98", 0},       // truncated 4-byte sequence
           {"x\xc0\xaf", 1},          // overlong '/'
           {"\xe0\x80\xaf", 0},       // overlong 3-byte form
           {"\xf0\x80\x80\xaf", 0},   // overlong 4-byte form
           {"ok\xed\xa0\x80", 2},     // U+D800, a surrogate
           {"\xed\xbf\xbf", 0},       // U+DFFF
           {"a\xf4\x90\x80\x80", 1},  // U+110000
           {"\xf5\x80\x80\x80", 0},   // lead byte beyond U+10FFFF
           {"\xff", 0},
           {"\xc3\xa9\xc3", 2},  // é then a truncated é
       }) {
    auto ids = (*tok)->Encode(c.text, /*add_special_tokens=*/false);
    ASSERT_FALSE(ids.ok()) << Json(std::vector<uint8_t>(c.text.begin(), c.text.end())).dump();
    EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(ids.status().message()),
                HasSubstr("byte offset " + std::to_string(c.offset)))
        << ids.status();
  }
}

TEST(TokenizerErrorsTest, ValidUtf8Boundaries) {
  auto tok = Tokenizer::FromJson(ValidTokenizer().dump());
  ASSERT_TRUE(tok.ok()) << tok.status();
  // U+007F, U+0080, U+07FF, U+0800, U+D7FF, U+E000, U+FFFF, U+10000, U+10FFFF, and NUL.
  for (const std::string& text : std::vector<std::string>{
           "\x7f", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf", "\xee\x80\x80",
           "\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", std::string("a\0b", 3)}) {
    EXPECT_TRUE((*tok)->Encode(text, false).ok()) << Json(text).dump();
  }
}

TEST(TokenizerErrorsTest, DecodeUnknownId) {
  Json j = ValidTokenizer();
  j["model"]["vocab"] = {{"a", 0}, {"b", 1}, {"ab", 3}, {"c", 5}};  // no ids 2 and 4 in the vocab
  j["added_tokens"] = Json::array({{{"id", 4}, {"content", "<s>"}, {"special", true}}});
  auto tok = Tokenizer::FromJson(j.dump());
  ASSERT_TRUE(tok.ok()) << tok.status();
  ASSERT_EQ((*tok)->id_end(), 6);
  EXPECT_TRUE((*tok)->Decode({0, 1, 3, 4, 5}, false).ok());
  for (int32_t bad : {-1, 2, 6, 1000, 2147483647}) {
    for (bool skip : {false, true}) {
      auto text = (*tok)->Decode({0, bad}, skip);
      ASSERT_FALSE(text.ok()) << bad;
      EXPECT_EQ(text.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(std::string(text.status().message()), HasSubstr(std::to_string(bad)));
    }
  }
}

}  // namespace
}  // namespace tessera
