// Exact parity with Hugging Face tokenizers on the fixtures' reference cases (reference.json was
// produced by tokenizers' encode(text, add_special_tokens=False/True) and decode(ids)).
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "text/tokenizer/tokenizer.h"

namespace tessera {
namespace {

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ReferenceTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ReferenceTest, MatchesHuggingFace) {
  const std::string name = GetParam();
  const std::filesystem::path dir = std::filesystem::path(TOKENIZER_FIXTURES_DIR) / name;
  if (!std::filesystem::exists(dir / "tokenizer.json") ||
      !std::filesystem::exists(TOKENIZER_REFERENCE_JSON)) {
    GTEST_SKIP() << "tokenizer fixtures not available";
  }
  auto tok = Tokenizer::Load(dir);
  ASSERT_TRUE(tok.ok()) << tok.status();
  const auto ref = nlohmann::json::parse(ReadFile(TOKENIZER_REFERENCE_JSON));
  const auto& cases = ref["tokenizers"][name];
  ASSERT_GT(cases.size(), 0u);
  int passed = 0;
  for (const auto& c : cases) {
    const std::string text = c["text"].get<std::string>();
    const auto ids = c["ids"].get<std::vector<int32_t>>();
    const auto ids_special = c["ids_with_special"].get<std::vector<int32_t>>();
    auto got = (*tok)->Encode(text, /*add_special_tokens=*/false);
    ASSERT_TRUE(got.ok()) << got.status();
    auto got_special = (*tok)->Encode(text, /*add_special_tokens=*/true);
    ASSERT_TRUE(got_special.ok()) << got_special.status();
    auto decoded = (*tok)->Decode(ids, /*skip_special_tokens=*/false);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*got, ids) << "text: " << text;
    EXPECT_EQ(*got_special, ids_special) << "text: " << text;
    EXPECT_EQ(*decoded, c["decoded"].get<std::string>()) << "text: " << text;
    passed += *got == ids && *got_special == ids_special && *decoded == c["decoded"];
  }
  EXPECT_EQ(passed, static_cast<int>(cases.size()));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ReferenceTest, ::testing::Values("llama2", "llama3", "qwen3"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace tessera
