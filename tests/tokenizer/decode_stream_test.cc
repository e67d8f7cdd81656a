// Streaming detokenization on the real llama2 (sentencepiece-style, byte fallback), llama3 and
// qwen3 (byte-level) tokenizers and on those of the fixture models (byte fallback): the streamed
// pieces add up to Tokenizer::Decode (which the reference test checks against Hugging Face), and
// every piece is whole characters.
#include "text/tokenizer/decode_stream.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "text/tokenizer/byte_level.h"
#include "text/tokenizer/tokenizer.h"
#include "text/tokenizer/utf8.h"

namespace tessera {
namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";

// The model fixtures all share one tokenizer.json (llama2's, byte fallback): tiny-llama's.
const std::vector<std::string>& ModelFixtures() {
  static const auto* names = new std::vector<std::string>{"tiny-llama"};
  return *names;
}

const Tokenizer* LoadFixture(const std::string& name) {
  static auto* cache = new std::map<std::string, std::unique_ptr<Tokenizer>>();
  auto it = cache->find(name);
  if (it != cache->end()) return it->second.get();
  const bool model =
      std::find(ModelFixtures().begin(), ModelFixtures().end(), name) != ModelFixtures().end();
  const std::filesystem::path dir =
      model ? std::filesystem::path(TESSERA_FIXTURES_DIR) / "models" / name
            : std::filesystem::path(TOKENIZER_FIXTURES_DIR) / name;
  if (!std::filesystem::exists(dir / "tokenizer.json")) return nullptr;
  auto tok = Tokenizer::Load(dir);
  if (!tok.ok()) {
    ADD_FAILURE() << tok.status();
    return nullptr;
  }
  return (*cache)[name] = *std::move(tok), (*cache)[name].get();
}

// Texts whose characters span several byte-level or byte-fallback tokens.
const std::vector<std::string>& HardTexts() {
  static const auto* texts = new std::vector<std::string>{
      "Hello world, this is a test.",
      "  leading spaces and trailing  ",
      "日本語のテキストと中文混合",
      "emoji 👩‍👩‍👧‍👦 family, 👍🏽 thumbs, 🇫🇷 flag",
      "café naïve — “quotes” ‘single’",
      "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math 𝟙𝟚𝟛 and ancient 𐍈",
      "def f(x):\n    return x ** 2  # square\n",
      "\n\n\ttabs\tand\nnewlines\r\n",
      "한국어 텍스트 ᄀᄁ",
      "ﷺ Arabic ligature and Devanagari नमस्ते",
  };
  return *texts;
}

struct Streamed {
  std::string text;
  std::vector<std::string> pieces;
};

Streamed StreamAll(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip,
                   const std::vector<int32_t>& context = {}) {
  DecodeStream stream(tok, skip, context);
  Streamed out;
  for (int32_t id : ids) {
    auto piece = stream.Add(id);
    EXPECT_TRUE(piece.ok()) << piece.status();
    if (!piece.ok()) return out;
    out.pieces.push_back(*piece);
    out.text += *piece;
  }
  auto rest = stream.Flush();
  EXPECT_TRUE(rest.ok()) << rest.status();
  if (rest.ok()) out.text += *rest;
  EXPECT_FALSE(stream.has_pending());
  return out;
}

class DecodeStreamTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    tok_ = LoadFixture(GetParam());
    if (tok_ == nullptr) GTEST_SKIP() << "tokenizer fixtures not available";
  }
  const Tokenizer* tok_ = nullptr;
};

TEST_P(DecodeStreamTest, PiecesAddUpToDecodeAndAreWholeCharacters) {
  for (const std::string& text : HardTexts()) {
    for (bool special : {false, true}) {
      auto ids = tok_->Encode(text, special);
      ASSERT_TRUE(ids.ok()) << ids.status();
      for (bool skip : {false, true}) {
        auto whole = tok_->Decode(*ids, skip);
        ASSERT_TRUE(whole.ok());
        const Streamed s = StreamAll(*tok_, *ids, skip);
        EXPECT_EQ(s.text, *whole) << "text: " << text;
        for (const std::string& piece : s.pieces) {
          EXPECT_EQ(tokenizer::FirstInvalidUtf8(piece), std::string_view::npos);
          // The texts hold no U+FFFD, so one in a piece would be a character cut in two.
          EXPECT_EQ(piece.find(kReplacement), std::string::npos) << "text: " << text;
        }
      }
    }
  }
}

// The ids random sequences are drawn from: byte tokens (byte-fallback "<0xNN>", or byte-level
// single-byte tokens), special tokens, any id, and pieces of real text.
struct IdPools {
  std::vector<int32_t> bytes;               // by byte value; empty when the tokenizer has none
  std::vector<int32_t> specials;            // ids that skip_special_tokens removes
  std::vector<std::vector<int32_t>> texts;  // HardTexts() encoded
};

IdPools PoolsOf(const Tokenizer& tok) {
  IdPools p;
  for (int b = 0; b < 256; ++b) {
    char fallback[8];
    std::snprintf(fallback, sizeof fallback, "<0x%02X>", b);
    std::optional<int32_t> id = tok.TokenToId(fallback);
    if (!id.has_value()) {
      std::string spelled;
      tokenizer::AppendByteLevelChars(std::string(1, static_cast<char>(b)), &spelled);
      id = tok.TokenToId(spelled);
    }
    if (!id.has_value()) break;
    p.bytes.push_back(*id);
  }
  if (p.bytes.size() < 256) p.bytes.clear();
  for (int32_t id = 0; id < tok.id_end(); ++id) {
    auto part = tok.DecodePartOf(id, true);
    if (part.ok() && *part == Tokenizer::DecodePart::kNothing) p.specials.push_back(id);
  }
  for (const std::string& text : HardTexts()) p.texts.push_back(*tok.Encode(text, false));
  return p;
}

// 1 to 60 ids: byte tokens alone or spelling a whole character, special tokens, any id, or a
// slice of a real text's ids.
std::vector<int32_t> RandomIds(const Tokenizer& tok, const IdPools& p, std::mt19937& rng) {
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  std::vector<int32_t> ids;
  const size_t target = 1 + pick(60);
  while (ids.size() < target) {
    const size_t kind = pick(10);
    if (kind < 3 && !p.bytes.empty()) {
      if (kind == 0) {  // the bytes of one character of a real text
        const std::string& text = HardTexts()[pick(HardTexts().size())];
        size_t at = pick(text.size());
        while (at > 0 && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80) --at;
        const size_t n = tokenizer::ValidSequenceLength(std::string_view(text).substr(at));
        for (size_t i = 0; i < n; ++i)
          ids.push_back(p.bytes[static_cast<unsigned char>(text[at + i])]);
      } else {
        ids.push_back(p.bytes[pick(256)]);
      }
    } else if (kind == 3 && !p.specials.empty()) {
      ids.push_back(p.specials[pick(p.specials.size())]);
    } else if (kind == 4) {
      const int32_t id = static_cast<int32_t>(pick(static_cast<size_t>(tok.id_end())));
      if (tok.DecodePartOf(id, false).ok()) ids.push_back(id);  // not a gap in the vocabulary
    } else {
      const std::vector<int32_t>& text = p.texts[pick(p.texts.size())];
      const size_t from = pick(text.size());
      const size_t n = std::min(1 + pick(6), text.size() - from);
      ids.insert(ids.end(), text.begin() + from, text.begin() + from + n);
    }
  }
  return ids;
}

// The property the server relies on: every piece is valid UTF-8 (protobuf refuses a string
// field that is not) and the pieces add up to Decode of all the ids, for any ids.
TEST_P(DecodeStreamTest, RandomIdsStreamValidPiecesThatAddUpToDecode) {
  const IdPools pools = PoolsOf(*tok_);
  for (int seed = 0; seed < 600; ++seed) {
    std::mt19937 rng(seed);
    const std::vector<int32_t> ids = RandomIds(*tok_, pools, rng);
    for (bool skip : {false, true}) {
      auto whole = tok_->Decode(ids, skip);
      ASSERT_TRUE(whole.ok()) << whole.status();
      const Streamed s = StreamAll(*tok_, ids, skip);
      EXPECT_EQ(s.text, *whole) << "seed " << seed << " skip " << skip;
      for (const std::string& piece : s.pieces) {
        ASSERT_EQ(tokenizer::FirstInvalidUtf8(piece), std::string::npos)
            << "seed " << seed << " skip " << skip;
      }
    }
  }
}

// With a prompt as context the pieces add up to what the output adds to the prompt's text,
// wherever the prompt's own text is final: it ends in a token that is not a byte and not
// inside a character, so the output's ids cannot rewrite it.
TEST_P(DecodeStreamTest, RandomIdsAfterAPromptAddUpToWhatTheOutputAdds) {
  const IdPools pools = PoolsOf(*tok_);
  int checked = 0;
  for (int seed = 0; seed < 600; ++seed) {
    std::mt19937 rng(100000 + seed);
    const std::vector<int32_t> prompt = RandomIds(*tok_, pools, rng);
    const std::vector<int32_t> output = RandomIds(*tok_, pools, rng);
    std::vector<int32_t> all = prompt;
    all.insert(all.end(), output.begin(), output.end());
    for (bool skip : {false, true}) {
      auto prompt_text = tok_->Decode(prompt, skip);
      auto all_text = tok_->Decode(all, skip);
      ASSERT_TRUE(prompt_text.ok() && all_text.ok());
      const Streamed s = StreamAll(*tok_, output, skip, prompt);
      for (const std::string& piece : s.pieces) {
        ASSERT_EQ(tokenizer::FirstInvalidUtf8(piece), std::string::npos) << "seed " << seed;
      }
      if (*tok_->DecodePartOf(prompt.back(), skip) != Tokenizer::DecodePart::kText ||
          absl::EndsWith(*prompt_text, kReplacement)) {
        continue;
      }
      ASSERT_TRUE(absl::StartsWith(*all_text, *prompt_text)) << "seed " << seed;
      EXPECT_EQ(s.text, all_text->substr(prompt_text->size())) << "seed " << seed << " " << skip;
      ++checked;
    }
  }
  EXPECT_GT(checked, 300);
}

TEST_P(DecodeStreamTest, WithPromptContextStreamsWhatTheOutputAdds) {
  const std::string prompt = "The capital of France is";
  const std::string output = " Paris, a city of 2 million — 巴黎 🗼.";
  auto prompt_ids = tok_->Encode(prompt, true);
  auto all_ids = tok_->Encode(prompt + output, true);
  ASSERT_TRUE(prompt_ids.ok() && all_ids.ok());
  // The split point: the prompt's ids are a prefix of the whole text's ids for these texts.
  ASSERT_EQ(std::vector<int32_t>(all_ids->begin(), all_ids->begin() + prompt_ids->size()),
            *prompt_ids);
  const std::vector<int32_t> output_ids(all_ids->begin() + prompt_ids->size(), all_ids->end());
  auto prompt_text = tok_->Decode(*prompt_ids, true);
  auto all_text = tok_->Decode(*all_ids, true);
  ASSERT_TRUE(prompt_text.ok() && all_text.ok());
  ASSERT_EQ(all_text->substr(0, prompt_text->size()), *prompt_text);
  // The leading space survives (sentencepiece's decoder strips it from a text's first token).
  EXPECT_EQ(StreamAll(*tok_, output_ids, true, *prompt_ids).text,
            all_text->substr(prompt_text->size()));
  EXPECT_EQ(all_text->substr(prompt_text->size()), output);
}

TEST_P(DecodeStreamTest, SkippedSpecialTokensLeaveNoTrace) {
  auto ids = tok_->Encode("one two", false);
  ASSERT_TRUE(ids.ok());
  // The model fixtures have no tokenizer_config.json to name EOS.
  const std::optional<int32_t> eos =
      tok_->eos_id().has_value() ? tok_->eos_id() : tok_->TokenToId("</s>");
  ASSERT_TRUE(eos.has_value());
  std::vector<int32_t> with_eos = *ids;
  with_eos.insert(with_eos.begin() + 1, *eos);
  with_eos.push_back(*eos);
  const Streamed skipped = StreamAll(*tok_, with_eos, true);
  EXPECT_EQ(skipped.text, *tok_->Decode(*ids, true));
  const Streamed kept = StreamAll(*tok_, with_eos, false);
  EXPECT_EQ(kept.text, *tok_->Decode(with_eos, false));
  EXPECT_NE(kept.text.find(*tok_->Decode({*eos}, false)), std::string::npos);
}

TEST_P(DecodeStreamTest, PartialCharacterIsHeldThenFlushedAsReplacement) {
  // The 4 bytes of an emoji: byte-fallback or byte-level tokens, at least 2 of them here.
  auto ids = tok_->Encode("🗼", false);
  ASSERT_TRUE(ids.ok());
  ASSERT_GE(ids->size(), 1u);
  DecodeStream stream(*tok_, false);
  std::string text;
  for (size_t i = 0; i + 1 < ids->size(); ++i) text += *stream.Add((*ids)[i]);
  if (ids->size() > 1) {
    EXPECT_EQ(text.find("🗼"), std::string::npos);
    EXPECT_TRUE(stream.has_pending());
    DecodeStream cut(*tok_, false);
    for (size_t i = 0; i + 1 < ids->size(); ++i) ASSERT_TRUE(cut.Add((*ids)[i]).ok());
    auto flushed = cut.Flush();
    ASSERT_TRUE(flushed.ok());
    EXPECT_EQ(*flushed, *tok_->Decode(absl::MakeSpan(*ids).first(ids->size() - 1), false));
    EXPECT_NE(flushed->find(kReplacement), std::string::npos);
  }
  text += *stream.Add(ids->back());
  if (*tok_->DecodePartOf(ids->back(), false) == Tokenizer::DecodePart::kByte) {
    // A byte-fallback run is released once a token that is not a byte ends it, or at the end.
    EXPECT_EQ(text, "");
    EXPECT_TRUE(stream.has_pending());
    text += *stream.Flush();
  } else {
    EXPECT_FALSE(stream.has_pending());
  }
  EXPECT_EQ(text, "🗼");
}

TEST_P(DecodeStreamTest, UnknownIdIsAnErrorAndLeavesTheStreamUsable) {
  DecodeStream stream(*tok_, false);
  auto ids = tok_->Encode("ok then", false);
  ASSERT_TRUE(ids.ok());
  std::string text = *stream.Add((*ids)[0]);
  auto bad = stream.Add(tok_->id_end() + 5);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  for (size_t i = 1; i < ids->size(); ++i) text += *stream.Add((*ids)[i]);
  text += *stream.Flush();
  EXPECT_EQ(text, *tok_->Decode(*ids, false));
}

TEST_P(DecodeStreamTest, LongStreamsStayCorrectAcrossCompaction) {
  std::string text;
  for (int i = 0; i < 120; ++i) text += HardTexts()[i % HardTexts().size()];
  auto ids = tok_->Encode(text, false);
  ASSERT_TRUE(ids.ok());
  ASSERT_GT(ids->size(), 600u);
  EXPECT_EQ(StreamAll(*tok_, *ids, false).text, *tok_->Decode(*ids, false));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, DecodeStreamTest,
                         ::testing::Values("llama2", "llama3", "qwen3", "tiny-llama"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// The reproduction of issue 14 on the sentencepiece tokenizer: "<0x7E>" alone reads "~", but
// "<0x7E><0xCC>" reads two U+FFFD, so the decode of the longer sequence does not extend the
// shorter one's. The run is held until a token that is not a byte ends it.
TEST(DecodeStreamByteRunTest, ARunOfByteTokensIsReleasedOnceItEnds) {
  const Tokenizer* tok = LoadFixture("tiny-llama");
  if (tok == nullptr) GTEST_SKIP() << "model fixtures not available";
  const int32_t tilde = *tok->TokenToId("<0x7E>");
  const int32_t cc = *tok->TokenToId("<0xCC>");
  const int32_t the = *tok->TokenToId("▁the");
  DecodeStream stream(*tok, false);
  EXPECT_EQ(*stream.Add(tilde), "");
  EXPECT_TRUE(stream.has_pending());
  EXPECT_EQ(*stream.Add(cc), "");
  EXPECT_EQ(*stream.Add(the), std::string(kReplacement) + kReplacement + " the");
  EXPECT_FALSE(stream.has_pending());
  // A valid run reads as its text once it ends.
  DecodeStream valid(*tok, false);
  EXPECT_EQ(*valid.Add(tilde), "");
  EXPECT_EQ(*valid.Add(the), "~ the");
}

// A byte run that the prompt leaves open stays the prompt's: the output's bytes start a run of
// their own instead of rewriting the prompt's text ("日" spelled as bytes, then a stray
// continuation byte, would otherwise turn all four bytes into U+FFFD).
TEST(DecodeStreamByteRunTest, OutputBytesDoNotRewriteThePromptsByteRun) {
  const Tokenizer* tok = LoadFixture("tiny-llama");
  if (tok == nullptr) GTEST_SKIP() << "model fixtures not available";
  std::vector<int32_t> prompt = *tok->Encode("Hi", true);
  for (const char* b : {"<0xE6>", "<0x97>", "<0xA5>"}) prompt.push_back(*tok->TokenToId(b));
  ASSERT_EQ(*tok->Decode(prompt, true), "Hi日");
  const int32_t ok = *tok->TokenToId("▁ok");
  EXPECT_EQ(StreamAll(*tok, {*tok->TokenToId("<0x97>"), ok}, true, prompt).text,
            std::string(kReplacement) + " ok");
  EXPECT_EQ(StreamAll(*tok, {*tok->TokenToId("<0x41>"), ok}, true, prompt).text, "A ok");
  EXPECT_EQ(StreamAll(*tok, {ok}, true, prompt).text, " ok");
}

// A decoder chain no real tokenizer uses, where a later token rewrites released text (a Replace
// after Fuse whose pattern spans tokens): the pieces cannot add up to Decode, but each is still
// whole characters.
TEST(DecodeStreamRewriteTest, PiecesStayWholeCharactersWhenADecoderRewritesText) {
  auto tok = Tokenizer::FromJson(R"({
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 2}, "merges": []},
    "decoder": {"type": "Sequence", "decoders": [
      {"type": "Fuse"},
      {"type": "Replace", "pattern": {"String": "ab"}, "content": "\u00e9\u00e9\u00e9"}]}})");
  ASSERT_TRUE(tok.ok()) << tok.status();
  ASSERT_EQ(*(*tok)->Decode({0, 1}, false), "ééé");
  const Streamed s = StreamAll(**tok, {0, 1, 2}, false);
  for (const std::string& piece : s.pieces) {
    EXPECT_EQ(tokenizer::FirstInvalidUtf8(piece), std::string::npos);
  }
}

}  // namespace
}  // namespace tessera
