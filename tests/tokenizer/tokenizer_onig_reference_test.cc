// Tokenizers whose Split patterns no fast path covers (GPT-4o's o200k, Mistral's Tekken, a
// DeepSeek-V3-style Sequence of Splits), against the ids Hugging Face tokenizers encodes each
// text of onig_cases.json to (refgen/gen_onig_cases.py), and back.
#include <string>
#include <thread>
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

// One tokenizer shared by threads that encode at once (as the daemon's request threads do),
// each getting what Hugging Face gives; and tokenizers loaded by several threads at once.
TEST_P(OnigReferenceTest, ConcurrentLoadsAndEncodesAgree) {
  const Json& cases = tokenizer_test::OnigCases();
  const Json& texts = cases["texts"];
  const Json& c = cases["tokenizers"][GetParam()];
  const std::string json = c["tokenizer"].dump();
  auto shared = Tokenizer::FromJson(json);
  ASSERT_TRUE(shared.ok()) << shared.status();
  constexpr int kThreads = 4;
  std::vector<int> mismatches(kThreads, 0), load_errors(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      load_errors[t] += !Tokenizer::FromJson(json).ok();
      for (size_t i = t; i < texts.size() * 4; i += kThreads) {
        const size_t k = i % texts.size();
        auto got = (*shared)->Encode(texts[k].get<std::string>(), /*add_special_tokens=*/false);
        mismatches[t] += !got.ok() || *got != c["ids"][k].get<std::vector<int32_t>>();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(load_errors[t], 0) << "thread " << t;
    EXPECT_EQ(mismatches[t], 0) << "thread " << t;
  }
}

INSTANTIATE_TEST_SUITE_P(Patterns, OnigReferenceTest,
                         ::testing::Values("o200k", "tekken", "deepseek_v3"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace tessera
