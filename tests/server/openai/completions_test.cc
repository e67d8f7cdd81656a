// POST /v1/completions bodies -> v1.GenerateRequest, against hand-written OpenAI requests.
#include "server/openai/completions.h"

#include <string>

#include "gtest/gtest.h"
#include "server/openai/openai_error.h"

namespace tessera::openai {
namespace {

using Json = nlohmann::ordered_json;

absl::StatusOr<CompletionCall> Parse(const char* body) {
  return ParseCompletionRequest(Json::parse(body));
}

// The error's message and param, for one assertion.
std::string ErrorOf(const char* body) {
  absl::StatusOr<CompletionCall> call = Parse(body);
  if (call.ok()) return "ok";
  return ParamOf(call.status()) + ": " + std::string(call.status().message());
}

TEST(ParseCompletionRequest, AStringPromptTakesOpenAisDefaults) {
  absl::StatusOr<CompletionCall> call = Parse(R"({"model": "tiny", "prompt": "Hello"})");
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->model, "tiny");
  ASSERT_EQ(call->requests.size(), 1u);
  const v1::GenerateRequest& r = call->requests[0];
  EXPECT_EQ(r.text(), "Hello");
  EXPECT_EQ(r.token_ids_size(), 0);
  EXPECT_EQ(r.max_tokens(), 16);     // OpenAI's default
  EXPECT_EQ(r.temperature(), 1.0f);  // OpenAI's default, not the proto's greedy
  EXPECT_TRUE(r.has_temperature());
  EXPECT_FALSE(r.has_top_p());
  EXPECT_FALSE(r.has_seed());
  EXPECT_FALSE(r.has_add_special_tokens());
  EXPECT_EQ(r.logprobs(), 0);
  EXPECT_EQ(call->n, 1);
  EXPECT_FALSE(call->stream);
  EXPECT_FALSE(call->echo);
  EXPECT_FALSE(call->logprobs_requested);
}

TEST(ParseCompletionRequest, PromptForms) {
  absl::StatusOr<CompletionCall> ids = Parse(R"({"prompt": [1, 2, 3]})");
  ASSERT_TRUE(ids.ok()) << ids.status();
  ASSERT_EQ(ids->requests.size(), 1u);
  EXPECT_EQ(std::vector<int32_t>(ids->requests[0].token_ids().begin(),
                                 ids->requests[0].token_ids().end()),
            (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(ids->model, "");

  absl::StatusOr<CompletionCall> many = Parse(R"({"prompt": ["a", [7, 8], "b"], "n": 2})");
  ASSERT_TRUE(many.ok()) << many.status();
  ASSERT_EQ(many->requests.size(), 3u);
  EXPECT_EQ(many->requests[0].text(), "a");
  EXPECT_EQ(many->requests[1].token_ids_size(), 2);
  EXPECT_EQ(many->requests[1].text(), "");
  EXPECT_EQ(many->requests[2].text(), "b");
  for (const v1::GenerateRequest& r : many->requests) EXPECT_EQ(r.n(), 2);
  EXPECT_EQ(many->n, 2);
}

TEST(ParseCompletionRequest, EveryFieldReachesTheRequest) {
  absl::StatusOr<CompletionCall> call = Parse(R"({
      "model": "tiny", "prompt": "x", "n": 3, "max_tokens": 40, "temperature": 0.5,
      "top_p": 0.9, "presence_penalty": 0.5, "frequency_penalty": -0.5,
      "logit_bias": {"50256": -100, "7": 2.5}, "stop": ["\n", "END"], "seed": 42,
      "logprobs": 3, "echo": true, "stream": true, "stream_options": {"include_usage": true},
      "user": "u1", "top_k": 20, "min_p": 0.05, "repetition_penalty": 1.1, "min_tokens": 2,
      "ignore_eos": true, "stop_token_ids": [5, 6], "skip_special_tokens": false,
      "include_stop_str_in_output": true, "prompt_logprobs": 1, "add_special_tokens": false,
      "cache_salt": "s1"})");
  ASSERT_TRUE(call.ok()) << call.status();
  const v1::GenerateRequest& r = call->requests[0];
  EXPECT_EQ(r.cache_salt(), "s1");
  EXPECT_EQ(r.n(), 3);
  EXPECT_EQ(r.max_tokens(), 40);
  EXPECT_FLOAT_EQ(r.temperature(), 0.5f);
  EXPECT_FLOAT_EQ(r.top_p(), 0.9f);
  EXPECT_FLOAT_EQ(r.presence_penalty(), 0.5f);
  EXPECT_FLOAT_EQ(r.frequency_penalty(), -0.5f);
  ASSERT_EQ(r.logit_bias_size(), 2);
  EXPECT_FLOAT_EQ(r.logit_bias().at(50256), -100.0f);
  EXPECT_FLOAT_EQ(r.logit_bias().at(7), 2.5f);
  ASSERT_EQ(r.stop_size(), 2);
  EXPECT_EQ(r.stop(0), "\n");
  EXPECT_EQ(r.stop(1), "END");
  EXPECT_EQ(r.seed(), 42u);
  EXPECT_EQ(r.logprobs(), 3);
  // echo with logprobs: the prompt's log-probabilities too, at least as many as asked.
  EXPECT_EQ(r.prompt_logprobs(), 3);
  EXPECT_EQ(r.top_k(), 20);
  EXPECT_FLOAT_EQ(r.min_p(), 0.05f);
  EXPECT_FLOAT_EQ(r.repetition_penalty(), 1.1f);
  EXPECT_EQ(r.min_tokens(), 2);
  EXPECT_TRUE(r.ignore_eos());
  ASSERT_EQ(r.stop_token_ids_size(), 2);
  EXPECT_EQ(r.stop_token_ids(1), 6);
  EXPECT_FALSE(r.skip_special_tokens());
  EXPECT_TRUE(r.has_skip_special_tokens());
  EXPECT_TRUE(r.include_stop_str_in_output());
  EXPECT_FALSE(r.add_special_tokens());
  EXPECT_TRUE(call->stream);
  EXPECT_TRUE(call->include_usage);
  EXPECT_TRUE(call->echo);
  EXPECT_EQ(call->logprobs, 3);
  EXPECT_EQ(call->user, "u1");
  EXPECT_TRUE(call->ignored_fields.empty());
}

TEST(ParseCompletionRequest, SmallCasesOfFields) {
  // A single stop string; 16.0 is an integer (as Python reads it); null means "not given".
  absl::StatusOr<CompletionCall> call =
      Parse(R"({"prompt": "x", "stop": "###", "max_tokens": 16.0, "top_p": null, "seed": -1,
                "logprobs": 0, "top_k": -1})");
  ASSERT_TRUE(call.ok()) << call.status();
  const v1::GenerateRequest& r = call->requests[0];
  ASSERT_EQ(r.stop_size(), 1);
  EXPECT_EQ(r.stop(0), "###");
  EXPECT_EQ(r.max_tokens(), 16);
  EXPECT_FALSE(r.has_top_p());
  EXPECT_EQ(r.seed(), ~uint64_t{0});  // -1 keeps its bits
  EXPECT_EQ(r.top_k(), -1);
  // logprobs 0 still asks for the chosen tokens' log-probabilities.
  EXPECT_TRUE(call->logprobs_requested);
  EXPECT_EQ(call->logprobs, 0);
  EXPECT_EQ(r.logprobs(), 1);
  // An empty stop string stops nothing (OpenAI and vLLM drop it).
  absl::StatusOr<CompletionCall> empty = Parse(R"({"prompt": "x", "stop": ""})");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->requests[0].stop_size(), 0);
}

TEST(ParseCompletionRequest, UnknownFieldsAreIgnoredAndListed) {
  absl::StatusOr<CompletionCall> call =
      Parse(R"({"prompt": "x", "service_tier": "auto", "metadata": {"a": 1}, "priority": 3})");
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->ignored_fields, (std::vector<std::string>{"service_tier", "metadata"}));
}

TEST(ParseCompletionRequest, BadBodiesNameTheField) {
  EXPECT_EQ(ErrorOf(R"({"model": "m"})"), "prompt: prompt is required");
  EXPECT_EQ(ErrorOf(R"({"prompt": 5})"),
            "prompt: prompt must be a string, an array of token ids or an array of prompts, not "
            "an integer");
  EXPECT_EQ(ErrorOf(R"({"prompt": []})"), "prompt: prompt is an empty array");
  EXPECT_EQ(ErrorOf(R"({"prompt": [1, "a"]})"),
            "prompt: prompt[1] must be an integer, not a string");
  EXPECT_EQ(ErrorOf(R"({"prompt": [1, -2]})"),
            "prompt: prompt[1] must be an integer in [0, 2147483647], not -2");
  EXPECT_EQ(ErrorOf(R"({"prompt": ["a", []]})"), "prompt: prompt[1] is an empty token list");
  EXPECT_EQ(ErrorOf(R"({"prompt": ["a", {"b": 1}]})"),
            "prompt: prompt[1] must be a string or an array of token ids, not an object");
  EXPECT_EQ(ErrorOf(R"({"prompt": "x", "model": 3})"),
            "model: model must be a string, not an "
            "integer");
  EXPECT_EQ(ErrorOf(R"({"prompt": "x", "max_tokens": 0})"),
            "max_tokens: max_tokens must be an integer in [1, 2147483647], not 0");
  EXPECT_EQ(ErrorOf(R"({"prompt": "x", "max_tokens": 2.5})"),
            "max_tokens: max_tokens must be an integer in [1, 2147483647], not 2.5");
  EXPECT_EQ(ErrorOf(R"({"prompt": "x", "max_tokens": "16"})"),
            "max_tokens: max_tokens must be an integer, not a string");
  EXPECT_EQ(ErrorOf(R"({"prompt": "x", "max_tokens": 1e300})"),
            "max_tokens: max_tokens must be an integer in [1, 2147483647], not 1e+300");
  EXPECT_EQ(ErrorOf(R"({"prompt": "x", "n": 0})"),
            "n: n must be an integer in [1, 2147483647], not 0");
  EXPECT_EQ(ErrorOf(R"({"prompt": "x", "temperature": -0.1})"),
            "temperature: temperature must be in [0, 3.40282e+38], not -0.1");
  EXPECT_EQ(ErrorOf(R"({"prompt": "x", "temperature": "hot"})"),
            "temperature: temperature must be a number, not a string");
  EXPECT_EQ(ErrorOf(R"({"prompt": "x", "top_p": 0})"), "top_p: top_p must be in (0, 1], not 0");
  EXPECT_EQ(ErrorOf(R"({"prompt": "x", "top_p": 1.5})"), "top_p: top_p must be in [0, 1], not 1.5");
  EXPECT_EQ(ErrorOf(R"({"prompt": "x", "presence_penalty": 3})"),
            "presence_penalty: presence_penalty must be in [-2, 2], not 3");
  EXPECT_EQ(ErrorOf(R"({"prompt": "x", "repetition_penalty": 0})"),
            "repetition_penalty: repetition_penalty must be > 0, not 0");
  EXPECT_EQ(ErrorOf(R"({"prompt": "x", "logprobs": 21})"),
            "logprobs: logprobs must be an integer in [0, 20], not 21");
  EXPECT_EQ(ErrorOf(R"({"prompt": "x", "logprobs": true})"),
            "logprobs: logprobs must be an integer, not a boolean");
  EXPECT_EQ(ErrorOf(R"({"prompt": "x", "prompt_logprobs": -1})"),
            "prompt_logprobs: prompt_logprobs must be an integer in [0, 20], not -1");
  EXPECT_EQ(ErrorOf(R"({"prompt": "x", "stop": 3})"),
            "stop: stop must be a string or an array of strings, not an integer");
  EXPECT_EQ(ErrorOf(R"({"prompt": "x", "stop": ["a", 1]})"),
            "stop: stop[1] must be a string, not an integer");
  EXPECT_EQ(ErrorOf(R"({"prompt": "x", "stop_token_ids": [1, -1]})"),
            "stop_token_ids: stop_token_ids[1] must be an integer in [0, 2147483647], not -1");
  EXPECT_EQ(ErrorOf(R"({"prompt": "x", "logit_bias": {"abc": 1}})"),
            "logit_bias: logit_bias key \"abc\" is not a token id (a non-negative integer written "
            "as a string)");
  EXPECT_EQ(ErrorOf(R"({"prompt": "x", "logit_bias": {"5": 101}})"),
            "logit_bias: logit_bias[\"5\"] must be in [-100, 100], not 101");
  EXPECT_EQ(ErrorOf(R"({"prompt": "x", "logit_bias": [1]})"),
            "logit_bias: logit_bias must be an object of token id -> bias, not an array");
  EXPECT_EQ(ErrorOf(R"({"prompt": "x", "seed": 1.5})"),
            "seed: seed must be an integer in [-9223372036854775808, 9223372036854775807], not "
            "1.5");
  EXPECT_EQ(ErrorOf(R"({"prompt": "x", "echo": "yes"})"),
            "echo: echo must be a boolean, not a string");
  EXPECT_EQ(ErrorOf(R"({"prompt": "x", "stream_options": {"include_usage": true}})"),
            "stream_options: stream_options can only be given when stream is true");
  EXPECT_EQ(ErrorOf(R"({"prompt": "x", "stream": true, "stream_options": {"include_usage": 1}})"),
            "stream_options: stream_options.include_usage must be a boolean, not an integer");
  EXPECT_EQ(ErrorOf(R"({"prompt": "x", "suffix": "end"})"), "suffix: suffix is not supported");
  EXPECT_EQ(ErrorOf(R"({"prompt": "x", "best_of": 2})"),
            "best_of: best_of other than n is not supported");
  EXPECT_EQ(ErrorOf(R"({"prompt": "x", "response_format": {"type": "json_object"}})"),
            "response_format: response_format other than {\"type\": \"text\"} is not supported "
            "(tessera has no guided decoding)");
  EXPECT_EQ(ErrorOf(R"({"prompt": "x", "response_format": {"type": 5}})"),
            "response_format: response_format other than {\"type\": \"text\"} is not supported "
            "(tessera has no guided decoding)");
  EXPECT_TRUE(Parse(R"({"prompt": "x", "response_format": {"type": "text"}})").ok());
  EXPECT_EQ(ErrorOf(R"([1])"), ": the request body must be a JSON object");
}

}  // namespace
}  // namespace tessera::openai
