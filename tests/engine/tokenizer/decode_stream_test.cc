// Streaming detokenization on the real llama2 (sentencepiece-style, byte fallback), llama3 and
// qwen3 (byte-level) tokenizers: the streamed pieces add up to Tokenizer::Decode (which the
// reference test checks against Hugging Face), and no piece ever ends inside a character.
#include "engine/tokenizer/decode_stream.h"

#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/tokenizer/tokenizer.h"
#include "engine/tokenizer/utf8.h"
#include "gtest/gtest.h"

namespace tessera {
namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";

const Tokenizer* LoadFixture(const std::string& name) {
  static auto* cache = new std::map<std::string, std::unique_ptr<Tokenizer>>();
  auto it = cache->find(name);
  if (it != cache->end()) return it->second.get();
  const std::filesystem::path dir = std::filesystem::path(TOKENIZER_FIXTURES_DIR) / name;
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

TEST_P(DecodeStreamTest, RandomIdsAddUpToDecode) {
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> any_id(0, tok_->id_end() - 1);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<int32_t> ids(1 + trial % 40);
    for (int32_t& id : ids) id = any_id(rng);
    for (bool skip : {false, true}) {
      auto whole = tok_->Decode(ids, skip);
      if (!whole.ok()) continue;  // an id in a gap of the vocabulary
      EXPECT_EQ(StreamAll(*tok_, ids, skip).text, *whole) << "trial " << trial;
    }
  }
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
  const std::optional<int32_t> eos = tok_->eos_id();
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

INSTANTIATE_TEST_SUITE_P(Fixtures, DecodeStreamTest, ::testing::Values("llama2", "llama3", "qwen3"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace tessera
