#include "client/generate_io.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <sstream>

#include "engine/sampling_params.h"
#include "nlohmann/json.hpp"
#include "text/tokenizer/tokenizer.h"

namespace tessera {
namespace {

TEST(ParseGenerateRequestTest, ReadsEveryField) {
  auto r = ParseGenerateRequest(
      R"({"id": "a", "token_ids": [1, 415, 2936], "max_tokens": 8, "temperature": 0.7,
          "logprobs": 5, "prompt_logprobs": 3})",
      "f:1", "1");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id, "a");
  EXPECT_EQ(r->prompt_token_ids, (std::vector<int32_t>{1, 415, 2936}));
  EXPECT_EQ(r->max_tokens, 8);
  EXPECT_FLOAT_EQ(r->sampling.temperature, 0.7f);
  EXPECT_EQ(r->sampling.num_logprobs, 5);
  EXPECT_EQ(r->prompt_logprobs, 3);
}

TEST(ParseGenerateRequestTest, ReadsSamplingFields) {
  auto r = ParseGenerateRequest(
      R"({"token_ids": [1], "temperature": 0.8, "top_k": 40, "top_p": 0.9, "min_p": 0.05,
          "seed": 18446744073709551615, "repetition_penalty": 1.2, "presence_penalty": -0.5,
          "frequency_penalty": 2, "logit_bias": {"50": -100, "7": 2.5, "1000": 0}})",
      "f:2", "2");
  ASSERT_TRUE(r.ok()) << r.status();
  const SamplingParams& s = r->sampling;
  EXPECT_FLOAT_EQ(s.temperature, 0.8f);
  EXPECT_EQ(s.top_k, 40);
  EXPECT_FLOAT_EQ(s.top_p, 0.9f);
  EXPECT_FLOAT_EQ(s.min_p, 0.05f);
  EXPECT_EQ(r->seed, 18446744073709551615u);
  EXPECT_FLOAT_EQ(s.repetition_penalty, 1.2f);
  EXPECT_FLOAT_EQ(s.presence_penalty, -0.5f);
  EXPECT_FLOAT_EQ(s.frequency_penalty, 2.0f);
  // Sorted by token id, whatever the object's order.
  const std::vector<std::pair<int32_t, float>> bias = {{7, 2.5f}, {50, -100.0f}, {1000, 0.0f}};
  EXPECT_EQ(s.logit_bias, bias);
  EXPECT_TRUE(ValidateSamplingParams(s, 32000).ok());
}

TEST(ParseGenerateRequestTest, SamplingDefaultsAreOff) {
  auto r = ParseGenerateRequest(R"({"token_ids": [3]})", "f:1", "1");
  ASSERT_TRUE(r.ok());
  const SamplingParams& s = r->sampling;
  EXPECT_EQ(s.top_k, 0);
  EXPECT_EQ(s.top_p, 1.0f);
  EXPECT_EQ(s.min_p, 0.0f);
  EXPECT_FALSE(r->seed.has_value());  // unseeded
  EXPECT_EQ(s.repetition_penalty, 1.0f);
  EXPECT_EQ(s.presence_penalty, 0.0f);
  EXPECT_EQ(s.frequency_penalty, 0.0f);
  EXPECT_TRUE(s.logit_bias.empty());
}

// vLLM's and OpenAI's meanings: 0 is a seed like any other, and top_k -1 is "off".
TEST(ParseGenerateRequestTest, SeedZeroIsASeedAndTopKMinusOneIsOff) {
  auto r = ParseGenerateRequest(R"({"token_ids": [3], "seed": 0, "top_k": -1})", "f:1", "1");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->seed.has_value());
  EXPECT_EQ(*r->seed, 0u);
  EXPECT_EQ(r->sampling.top_k, 0);
}

TEST(ParseGenerateRequestTest, UnsetFieldsTakeTheGenerationDefaults) {
  GenerationDefaults d;
  d.temperature = 0.6f;
  d.top_p = 0.9f;
  d.top_k = 20;
  d.min_p = 0.1f;
  d.repetition_penalty = 1.1f;
  d.max_tokens = 64;
  auto unset = ParseGenerateRequest(R"({"token_ids": [3]})", "f:1", "1", nullptr, d);
  ASSERT_TRUE(unset.ok()) << unset.status();
  EXPECT_FLOAT_EQ(unset->sampling.temperature, 0.6f);
  EXPECT_FLOAT_EQ(unset->sampling.top_p, 0.9f);
  EXPECT_EQ(unset->sampling.top_k, 20);
  EXPECT_FLOAT_EQ(unset->sampling.min_p, 0.1f);
  EXPECT_FLOAT_EQ(unset->sampling.repetition_penalty, 1.1f);
  EXPECT_EQ(unset->max_tokens, 64);
  // What a line sets wins, "off" values included.
  auto set = ParseGenerateRequest(
      R"({"token_ids": [3], "temperature": 0, "top_p": 1, "top_k": -1, "min_p": 0,
          "repetition_penalty": 1, "max_tokens": 5})",
      "f:2", "2", nullptr, d);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->sampling.temperature, 0.0f);
  EXPECT_EQ(set->sampling.top_p, 1.0f);
  EXPECT_EQ(set->sampling.top_k, 0);
  EXPECT_EQ(set->sampling.min_p, 0.0f);
  EXPECT_EQ(set->sampling.repetition_penalty, 1.0f);
  EXPECT_EQ(set->max_tokens, 5);
}

TEST(ParseGenerateRequestTest, DefaultsIdAndOptionalFields) {
  auto r = ParseGenerateRequest(R"({"token_ids": [3]})", "f:7", "7");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->id, "7");
  EXPECT_EQ(r->max_tokens, 16);
  EXPECT_EQ(r->sampling.temperature, 0.0f);
  EXPECT_EQ(r->adapter, nullptr);  // the base model
}

TEST(ParseGenerateRequestTest, AdapterIsANameForTheRunnerToResolve) {
  auto r = ParseGenerateRequest(R"({"token_ids": [3], "adapter": "sql-v2.1_b"})", "f:1", "1");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_NE(r->adapter, nullptr);
  EXPECT_EQ(r->adapter->name, "sql-v2.1_b");
  EXPECT_EQ(r->adapter->weights, nullptr);
}

TEST(ParseGenerateRequestTest, ErrorsNameTheField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"token_ids": [1], "top_q": 1})", "unknown field \"top_q\""},
      {R"({"token_ids": [1], "max_tokens": 0})", "\"max_tokens\" must be in [1,"},
      {R"({"token_ids": [1], "max_tokens": 2.5})", "\"max_tokens\" must be an integer"},
      {R"({"token_ids": [1, -4]})", "\"token_ids[1]\" must be in [0,"},
      {R"({"token_ids": [1, "x"]})", "\"token_ids[1]\" must be an integer"},
      {R"({"token_ids": "1,2"})", "\"token_ids\" must be an array"},
      {R"({"token_ids": []})", "\"token_ids\" must not be empty"},
      {R"({"max_tokens": 3})", "\"token_ids\" or \"text\" is required"},
      {R"({"text": "hi"})", "\"text\" needs a tokenizer"},
      {R"({"token_ids": [1], "add_special_tokens": false})", "applies only to \"text\""},
      {R"({"token_ids": [1], "skip_special_tokens": 1})", "\"skip_special_tokens\" must be true"},
      {R"({"token_ids": [1], "temperature": -1})", "\"temperature\" must be in [0, 100]"},
      {R"({"token_ids": [1], "top_p": 0})", "\"top_p\" must be in (0, 1], got 0"},
      {R"({"token_ids": [1], "top_p": 1.5})", "\"top_p\" must be in (0, 1], got 1.5"},
      {R"({"token_ids": [1], "top_p": "0.9"})", "\"top_p\" must be a number"},
      {R"({"token_ids": [1], "top_k": -2})", "\"top_k\" must be in [-1,"},
      {R"({"token_ids": [1], "top_k": 5.5})", "\"top_k\" must be an integer"},
      {R"({"token_ids": [1], "min_p": 2})", "\"min_p\" must be in [0, 1], got 2"},
      {R"({"token_ids": [1], "repetition_penalty": 0})",
       "\"repetition_penalty\" must be in (0, 100], got 0"},
      {R"({"token_ids": [1], "presence_penalty": -2.5})",
       "\"presence_penalty\" must be in [-2, 2], got -2.5"},
      {R"({"token_ids": [1], "frequency_penalty": null})",
       "\"frequency_penalty\" must be a number"},
      {R"({"token_ids": [1], "seed": -1})", "\"seed\" must be an integer in [0, 2^64)"},
      {R"({"token_ids": [1], "seed": 1.5})", "\"seed\" must be an integer in [0, 2^64)"},
      {R"({"token_ids": [1], "logit_bias": [1, 2]})", "\"logit_bias\" must be an object"},
      {R"({"token_ids": [1], "logit_bias": {"x": 1}})",
       "\"logit_bias\" key \"x\" must be a token id"},
      {R"({"token_ids": [1], "logit_bias": {"-3": 1}})",
       "\"logit_bias\" key \"-3\" must be a token id"},
      {R"({"token_ids": [1], "logit_bias": {"99999999999": 1}})",
       "\"logit_bias\" key \"99999999999\" must be a token id"},
      {R"({"token_ids": [1], "logit_bias": {"5": 101}})",
       "\"logit_bias[\"5\"]\" must be in [-100, 100], got 101"},
      {R"({"token_ids": [1], "logit_bias": {"5": "up"}})",
       "\"logit_bias[\"5\"]\" must be a number"},
      {R"({"token_ids": [1], "logit_bias": {"5": 1, "05": 2}})",
       "\"logit_bias\" lists token 5 twice"},
      {R"({"token_ids": [1], "logprobs": 21})", "\"logprobs\" must be in [0, 20], got 21"},
      {R"({"token_ids": [1], "temperature": "hot"})", "\"temperature\" must be a number"},
      {R"({"token_ids": [1], "logprobs": true})", "\"logprobs\" must be an integer"},
      {R"({"token_ids": [1], "id": 5})", "\"id\" must be a string"},
      {R"({"token_ids": [1], "adapter": 3})", "\"adapter\" must be a string"},
      {R"({"token_ids": [1], "adapter": "../etc"})", "\"adapter\" "},
      {R"({"token_ids": [1], "adapter": ""})", "\"adapter\" "},
      {R"({"token_ids": [99999999999]})", "\"token_ids[0]\" must be in"},
      {R"([1, 2])", "must be a JSON object"},
      {R"({"token_ids": [1)", "not valid JSON"},
  };
  for (const auto& [line, fragment] : cases) {
    auto r = ParseGenerateRequest(line, "req.jsonl:4", "4");
    ASSERT_FALSE(r.ok()) << line;
    EXPECT_TRUE(absl::IsInvalidArgument(r.status()));
    EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status();
    EXPECT_NE(r.status().message().find("req.jsonl:4"), std::string::npos) << r.status();
  }
}

TEST(ParseGenerateRequestsTest, SkipsBlankLinesAndNumbersIds) {
  std::istringstream in("{\"token_ids\": [1]}\n\n  \n{\"token_ids\": [2], \"id\": \"x\"}\n");
  auto rs = ParseGenerateRequests(in, "r.jsonl");
  ASSERT_TRUE(rs.ok());
  ASSERT_EQ(rs->size(), 2u);
  EXPECT_EQ((*rs)[0].id, "1");
  EXPECT_EQ((*rs)[1].id, "x");
  std::istringstream bad("{\"token_ids\": [1]}\n{\"oops\": 1}\n");
  auto err = ParseGenerateRequests(bad, "r.jsonl");
  ASSERT_FALSE(err.ok());
  EXPECT_NE(err.status().message().find("r.jsonl:2"), std::string::npos);
}

TEST(FormatGenerateResultTest, WritesTheDocumentedShape) {
  GenerateResult r;
  r.id = "q";
  r.prompt_token_ids = {1, 2};
  r.output_token_ids = {9};
  r.finish_reason = FinishReason::kStop;
  r.logprobs.push_back({{9, -0.25f}, {{9, -0.25f}, {4, -1.5f}}});
  r.prompt_logprobs.resize(2);
  r.prompt_logprobs[1] = LogprobEntry{{2, -3.0f}, {{7, -0.5f}}};
  const auto j = nlohmann::json::parse(FormatGenerateResult(r));
  EXPECT_EQ(j["id"], "q");
  EXPECT_EQ(j["prompt_token_ids"], nlohmann::json({1, 2}));
  EXPECT_EQ(j["output_token_ids"], nlohmann::json({9}));
  EXPECT_EQ(j["finish_reason"], "stop");
  EXPECT_EQ(j["logprobs"][0]["token_id"], 9);
  EXPECT_EQ(j["logprobs"][0]["logprob"], -0.25);
  EXPECT_EQ(j["logprobs"][0]["top"][1]["token_id"], 4);
  EXPECT_TRUE(j["prompt_logprobs"][0].is_null());
  EXPECT_EQ(j["prompt_logprobs"][1]["top"][0]["logprob"], -0.5);

  GenerateResult plain;
  plain.id = "p";
  const auto k = nlohmann::json::parse(FormatGenerateResult(plain));
  EXPECT_TRUE(k["logprobs"].is_null());
  EXPECT_TRUE(k["prompt_logprobs"].is_null());
  EXPECT_EQ(k["finish_reason"], "length");
  EXPECT_FALSE(k.contains("error"));
}

// A request that failed says so in its line: an empty output is not mistaken for a result.
TEST(FormatGenerateResultTest, AFailedRequestCarriesItsError) {
  GenerateResult r;
  r.id = "bad";
  r.finish_reason = FinishReason::kAbort;
  r.status = absl::InternalError("non-finite logits in step (NaN or infinity)");
  const auto j = nlohmann::json::parse(FormatGenerateResult(r));
  EXPECT_EQ(j["finish_reason"], "abort");
  EXPECT_EQ(j["error"]["code"], "INTERNAL");
  EXPECT_EQ(j["error"]["message"], "non-finite logits in step (NaN or infinity)");
}

// "text" prompts go through the model's tokenizer; the expected ids are Hugging Face
// tokenizers' (the fixtures' tokenizers/reference.json, llama2 "Hello world").
class TextRequestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::filesystem::path dir =
        std::filesystem::path(TESSERA_FIXTURES_DIR) / "models" / "tiny-llama";
    if (!std::filesystem::exists(dir / "tokenizer.json")) GTEST_SKIP() << "no fixtures";
    auto tok = Tokenizer::Load(dir);
    ASSERT_TRUE(tok.ok()) << tok.status();
    tokenizer_ = *std::move(tok);
  }
  std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_F(TextRequestTest, TextBecomesTokenIdsWithOrWithoutSpecialTokens) {
  auto r = ParseGenerateRequest(R"({"text": "Hello world"})", "f:1", "1", tokenizer_.get());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->prompt_token_ids, (std::vector<int32_t>{1, 22557, 1526}));
  auto plain = ParseGenerateRequest(R"({"text": "Hello world", "add_special_tokens": false})",
                                    "f:1", "1", tokenizer_.get());
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->prompt_token_ids, (std::vector<int32_t>{22557, 1526}));
}

TEST_F(TextRequestTest, TextAndTokenIdsExcludeEachOther) {
  auto r = ParseGenerateRequest(R"({"text": "a", "token_ids": [1]})", "f:2", "2", tokenizer_.get());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("exclude each other"), std::string::npos) << r.status();
}

TEST_F(TextRequestTest, ResultTextIsPrinted) {
  GenerateResult r;
  r.text = " world";
  EXPECT_EQ(nlohmann::json::parse(FormatGenerateResult(r))["text"], " world");
  r.text.reset();
  EXPECT_FALSE(nlohmann::json::parse(FormatGenerateResult(r)).contains("text"));
}

}  // namespace
}  // namespace tessera
