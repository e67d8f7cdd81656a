// Regressions found by the tokenizer fuzzers (tests/fuzz) or while writing them: each case is an
// input that once crashed or misbehaved, kept here so that the normal test run guards it.
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "text/tokenizer/tokenizer.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

constexpr char kModel[] = R"("model": {"type": "BPE", "vocab": {"a": 0}, "merges": []})";

// `depth` Sequences of `key` nested in one another around `leaf`.
std::string NestedSequences(const std::string& list_key, int depth, const std::string& leaf) {
  std::string open = R"({"type": "Sequence", ")" + list_key + R"(": [)";
  std::string json;
  json.reserve((open.size() + 2) * depth + leaf.size());
  for (int i = 0; i < depth; ++i) json += open;
  json += leaf;
  for (int i = 0; i < depth; ++i) json += "]}";
  return json;
}

struct Component {
  const char* key;
  const char* list_key;
  const char* leaf;
};

constexpr Component kComponents[] = {
    {"normalizer", "normalizers", R"({"type": "NFC"})"},
    {"pre_tokenizer", "pretokenizers",
     R"({"type": "ByteLevel", "add_prefix_space": false, "use_regex": true})"},
    {"post_processor", "processors", R"({"type": "ByteLevel"})"},
    {"decoder", "decoders", R"({"type": "Fuse"})"},
};

// Sequences nested 5,000 deep overflowed the stack of an ASan build: the components are built
// recursively. Nesting beyond what Hugging Face accepts is now refused before that.
TEST(TokenizerFuzzRegressionTest, DeeplyNestedSequenceIsAnError) {
  for (const Component& c : kComponents) {
    SCOPED_TRACE(c.key);
    const std::string json = std::string("{") + kModel + R"(, ")" + c.key + R"(": )" +
                             NestedSequences(c.list_key, 10000, c.leaf) + "}";
    auto t = Tokenizer::FromJson(json);
    ASSERT_FALSE(t.ok());
    EXPECT_TRUE(absl::IsInvalidArgument(t.status())) << t.status();
    EXPECT_THAT(t.status().message(), HasSubstr("nested"));
  }
}

// Real files nest a few levels; a few dozen still load.
TEST(TokenizerFuzzRegressionTest, ModeratelyNestedSequenceLoads) {
  for (const Component& c : kComponents) {
    SCOPED_TRACE(c.key);
    const std::string json = std::string("{") + kModel + R"(, ")" + c.key + R"(": )" +
                             NestedSequences(c.list_key, 30, c.leaf) + "}";
    auto t = Tokenizer::FromJson(json);
    EXPECT_TRUE(t.ok()) << t.status();
  }
}

// "" as the unknown token: Encode gave its id, which Decode then refused as not in the
// vocabulary, because an empty spelling marked a gap in the ids.
TEST(TokenizerFuzzRegressionTest, EmptyUnknownTokenDecodes) {
  auto t = Tokenizer::FromJson(
      R"({"model": {"type": "BPE", "vocab": {"": 0, "a": 1}, "merges": [], "unk_token": ""}})");
  ASSERT_TRUE(t.ok()) << t.status();
  auto ids = (*t)->Encode("b", /*add_special_tokens=*/false);
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, std::vector<int32_t>{0});
  auto text = (*t)->Decode(*ids, /*skip_special_tokens=*/false);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "");
  // A real gap is still refused.
  auto gap = Tokenizer::FromJson(R"({"model": {"vocab": {"a": 0, "b": 2}, "merges": []}})");
  ASSERT_TRUE(gap.ok()) << gap.status();
  EXPECT_TRUE(absl::IsInvalidArgument((*gap)->Decode({1}, false).status()));
}

}  // namespace
}  // namespace tessera
