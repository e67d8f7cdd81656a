// The tokenizer files written by MakeByteLevelTokenizerFiles, loaded back with tessera's own
// tokenizer: layout of ids, the components Llama 3 uses, BOS/EOS, and the errors for bad specs.
#include "authoring/byte_level_tokenizer_writer.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "text/tokenizer/tokenizer.h"

namespace tessera::tokenizer {
namespace {

using Json = nlohmann::json;

ByteLevelTokenizerSpec CatSpec() {
  ByteLevelTokenizerSpec spec;
  auto merges = LearnByteLevelMerges("the cat saw the hat; the cat sat", 12);
  EXPECT_TRUE(merges.ok()) << merges.status();
  spec.merges = *merges;
  spec.special_tokens = {"<s>", "</s>", "<pad>"};
  spec.bos_token = "<s>";
  spec.eos_token = "</s>";
  spec.model_max_length = 512;
  return spec;
}

std::unique_ptr<Tokenizer> Load(const ByteLevelTokenizerFiles& files) {
  auto tok = Tokenizer::FromJson(files.tokenizer_json, files.tokenizer_config_json);
  EXPECT_TRUE(tok.ok()) << tok.status();
  return tok.ok() ? *std::move(tok) : nullptr;
}

TEST(ByteLevelTokenizerWriterTest, LaysOutBytesThenMergesThenSpecialTokens) {
  auto files = MakeByteLevelTokenizerFiles(CatSpec());
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(files->num_ids, 256 + 12 + 3);
  EXPECT_EQ(files->bos_id, 268);
  EXPECT_EQ(files->eos_id, 269);
  std::unique_ptr<Tokenizer> tok = Load(*files);
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->id_end(), files->num_ids);
  EXPECT_EQ(tok->TokenToId("A"), 65);
  EXPECT_EQ(tok->TokenToId("\xC4\xA0"), 32);  // Ġ, the space byte
  EXPECT_EQ(tok->TokenToId("<pad>"), 270);
  EXPECT_EQ(tok->bos_id(), files->bos_id);
  EXPECT_EQ(tok->eos_id(), files->eos_id);
  EXPECT_TRUE(tok->add_bos_token());
  // Every id decodes.
  for (int32_t id = 0; id < files->num_ids; ++id) {
    EXPECT_TRUE(tok->Decode(std::vector<int32_t>{id}, false).ok()) << id;
  }
}

TEST(ByteLevelTokenizerWriterTest, EncodesWithTheMergesAndAddsBos) {
  auto files = MakeByteLevelTokenizerFiles(CatSpec());
  ASSERT_TRUE(files.ok()) << files.status();
  std::unique_ptr<Tokenizer> tok = Load(*files);
  ASSERT_NE(tok, nullptr);
  auto ids = tok->Encode("the cat", false);
  ASSERT_TRUE(ids.ok()) << ids.status();
  // "the" and " cat" are frequent enough in the text to have become tokens.
  ASSERT_EQ(ids->size(), 2u);
  EXPECT_EQ(tok->TokenToId("the"), (*ids)[0]);
  EXPECT_EQ(tok->TokenToId("\xC4\xA0"
                           "cat"),
            (*ids)[1]);
  auto with_bos = tok->Encode("the cat", true);
  ASSERT_TRUE(with_bos.ok());
  std::vector<int32_t> want = {files->bos_id};
  want.insert(want.end(), ids->begin(), ids->end());
  EXPECT_EQ(*with_bos, want);
  EXPECT_EQ(*tok->Decode(*with_bos, false), "<s>the cat");
  EXPECT_EQ(*tok->Decode(*with_bos, true), "the cat");
  // Special tokens in the text are matched whole.
  auto special = tok->Encode("x</s>", false);
  ASSERT_TRUE(special.ok());
  EXPECT_EQ(*special, (std::vector<int32_t>{'x', files->eos_id}));
}

TEST(ByteLevelTokenizerWriterTest, WritesLlama3Components) {
  auto files = MakeByteLevelTokenizerFiles(CatSpec());
  ASSERT_TRUE(files.ok()) << files.status();
  const Json j = Json::parse(files->tokenizer_json);
  EXPECT_EQ(j["model"]["type"], "BPE");
  EXPECT_EQ(j["model"]["merges"][0], "a t");  // the most frequent pair: 4 times
  EXPECT_EQ(j["pre_tokenizer"]["pretokenizers"][0]["type"], "Split");
  EXPECT_EQ(j["pre_tokenizer"]["pretokenizers"][1]["type"], "ByteLevel");
  EXPECT_EQ(j["decoder"]["type"], "ByteLevel");
  EXPECT_EQ(j["post_processor"]["processors"][1]["special_tokens"]["<s>"]["ids"][0], files->bos_id);
  ASSERT_EQ(j["added_tokens"].size(), 3u);
  EXPECT_EQ(j["added_tokens"][1]["content"], "</s>");
  EXPECT_EQ(j["added_tokens"][1]["special"], true);
  const Json config = Json::parse(files->tokenizer_config_json);
  EXPECT_EQ(config["model_max_length"], 512);
  EXPECT_EQ(config["bos_token"], "<s>");
  EXPECT_EQ(config["eos_token"], "</s>");
  EXPECT_EQ(config["added_tokens_decoder"]["269"]["content"], "</s>");
}

TEST(ByteLevelTokenizerWriterTest, NamesTheProblemWithABadSpec) {
  auto error = [](const ByteLevelTokenizerSpec& spec) {
    auto files = MakeByteLevelTokenizerFiles(spec);
    EXPECT_TRUE(absl::IsInvalidArgument(files.status())) << files.status();
    return std::string(files.status().message());
  };
  ByteLevelTokenizerSpec spec = CatSpec();
  spec.merges.insert(spec.merges.begin(), {"a", "bc"});
  EXPECT_NE(error(spec).find("merge 0 (\"a\" \"bc\"): \"bc\" is neither a byte token"),
            std::string::npos)
      << error(spec);
  spec = CatSpec();
  spec.special_tokens.push_back("A");
  EXPECT_NE(error(spec).find("special token \"A\" is already a token"), std::string::npos);
  spec = CatSpec();
  spec.special_tokens.push_back("<s>");
  EXPECT_NE(error(spec).find("special token \"<s>\" is already a token"), std::string::npos);
  spec = CatSpec();
  spec.special_tokens.push_back("");
  EXPECT_NE(error(spec).find("a special token is empty"), std::string::npos);
  spec = CatSpec();
  spec.eos_token = "<eos>";
  EXPECT_NE(error(spec).find("\"<eos>\" is not one of the special tokens"), std::string::npos);
}

}  // namespace
}  // namespace tessera::tokenizer
