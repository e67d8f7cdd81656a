// Tokenizers whose Split patterns no fast path covers (GPT-4o's o200k, Mistral's Tekken, a
// DeepSeek-V3-style Sequence of Splits), against the ids Hugging Face tokenizers encodes each
// text of onig_cases.json to (refgen/gen_onig_cases.py), and back.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/tokenizer/test_data.h"
#include "text/tokenizer/tokenizer.h"

namespace tessera {
namespace {

using Json = nlohmann::json;

class OnigReferenceTest : public ::testing::TestWithParam<std::string> {};

TEST_P(OnigReferenceTest, MatchesHuggingFace) {
  const Json& cases = tokenizer_test::OnigCases();
  const Json& texts = cases["texts"];
  const Json& c = cases["tokenizers"][GetParam()];
  auto tok = Tokenizer::FromJson(c["tokenizer"].dump());
  ASSERT_TRUE(tok.ok()) << tok.status();
  ASSERT_EQ(c["ids"].size(), texts.size());
  int passed = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string text = texts[i].get<std::string>();
    const auto want = c["ids"][i].get<std::vector<int32_t>>();
    auto got = (*tok)->Encode(text, /*add_special_tokens=*/false);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, want) << "text: " << Json(text).dump();
    auto decoded = (*tok)->Decode(want, /*skip_special_tokens=*/false);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, text);
    passed += *got == want && *decoded == text;
  }
  EXPECT_EQ(passed, static_cast<int>(texts.size()));
}

INSTANTIATE_TEST_SUITE_P(Patterns, OnigReferenceTest,
                         ::testing::Values("o200k", "tekken", "deepseek_v3"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace tessera
