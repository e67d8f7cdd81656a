// The completion response builder against hand-written OpenAI (and vLLM) response JSON.
#include "server/openai/completion_response.h"

#include <string>
#include <vector>

#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace tessera::openai {
namespace {

using Json = nlohmann::ordered_json;

v1::GenerateResponse Msg(const std::string& text) {
  v1::GenerateResponse m;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &m)) << text;
  return m;
}

CompletionCall Call(const char* body) {
  absl::StatusOr<CompletionCall> call = ParseCompletionRequest(Json::parse(body));
  EXPECT_TRUE(call.ok()) << call.status();
  return *call;
}

ResponseHeader Header() { return ResponseHeader{"cmpl-1", 1700000000, "tiny"}; }

TEST(CompletionResponseBuilder, WholeResponseNumbersChoicesByPromptAndSample) {
  const CompletionCall call = Call(R"({"prompt": ["a", "b"], "n": 2})");
  CompletionResponseBuilder b(call, Header());
  ASSERT_TRUE(
      b.Add(0, Msg(R"(samples { index: 0 text: "Hel" } samples { index: 1 text: "Wo" })")).ok());
  ASSERT_TRUE(b.Add(1, Msg(R"(samples { index: 1 text: "x" finish_reason: FINISH_REASON_LENGTH }
                             samples { index: 0 text: "y" finish_reason: FINISH_REASON_STOP
                                       stop_string: "\n" }
                             usage { prompt_tokens: 2 completion_tokens: 2
                                     cached_prompt_tokens: 1 })"))
                  .ok());
  ASSERT_TRUE(b.Add(0, Msg(R"(samples { index: 0 text: "lo" finish_reason: FINISH_REASON_STOP
                                        stop_token_id: 2 }
                             samples { index: 1 text: "rld" finish_reason: FINISH_REASON_LENGTH }
                             usage { prompt_tokens: 3 completion_tokens: 6
                                     cached_prompt_tokens: 2 })"))
                  .ok());
  EXPECT_EQ(b.Build(), Json::parse(R"({
    "id": "cmpl-1", "object": "text_completion", "created": 1700000000, "model": "tiny",
    "choices": [
      {"index": 0, "text": "Hello", "logprobs": null, "finish_reason": "stop", "stop_reason": 2},
      {"index": 1, "text": "World", "logprobs": null, "finish_reason": "length",
       "stop_reason": null},
      {"index": 2, "text": "y", "logprobs": null, "finish_reason": "stop", "stop_reason": "\n"},
      {"index": 3, "text": "x", "logprobs": null, "finish_reason": "length", "stop_reason": null}
    ],
    "usage": {"prompt_tokens": 5, "total_tokens": 13, "completion_tokens": 8,
              "prompt_tokens_details": {"cached_tokens": 3}}})"));
}

TEST(CompletionResponseBuilder, RefusesIndicesOutOfRange) {
  const CompletionCall call = Call(R"({"prompt": "a"})");
  CompletionResponseBuilder b(call, Header());
  EXPECT_EQ(b.Add(1, Msg("")).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(b.Add(0, Msg("samples { index: 1 }")).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(b.StreamChunks(-1, Msg("")).ok());
}

TEST(CompletionResponseBuilder, LegacyLogprobsShape) {
  const CompletionCall call = Call(R"({"prompt": "a", "logprobs": 1})");
  CompletionResponseBuilder b(call, Header());
  ASSERT_TRUE(b.Add(0, Msg(R"(
      samples { index: 0 text: "é b" token_ids: [5, 6]
        logprobs { chosen { token_id: 5 logprob: -0.5 token: "é" }
                   top { token_id: 5 logprob: -0.5 token: "é" }
                   top { token_id: 9 logprob: -1.5 token: "x" } }
        logprobs { chosen { token_id: 6 logprob: -2 token: " b" }
                   top { token_id: 7 logprob: -0.25 token: " a" } }
        finish_reason: FINISH_REASON_LENGTH }
      usage { prompt_tokens: 1 completion_tokens: 2 })"))
                  .ok());
  // One alternative asked for; the dict holds the sampled token too (vLLM); text offsets count
  // code points ("é" is one).
  EXPECT_EQ(b.Build()["choices"][0]["logprobs"], Json::parse(R"({
    "text_offset": [0, 1], "token_logprobs": [-0.5, -2.0], "tokens": ["é", " b"],
    "top_logprobs": [{"é": -0.5}, {" a": -0.25, " b": -2.0}]})"));
}

TEST(CompletionResponseBuilder, EchoPutsThePromptFirstWithItsLogprobs) {
  const CompletionCall call = Call(R"({"prompt": [1, 2], "echo": true, "logprobs": 0})");
  ASSERT_EQ(call.requests[0].prompt_logprobs(), 1);
  auto detokenize = [](const std::vector<int32_t>& ids) {
    std::string s;
    for (int32_t id : ids) s += id == 1 ? "<s>" : id == 2 ? "Hi" : "?";
    return s;
  };
  CompletionResponseBuilder b(call, Header(), detokenize);
  ASSERT_TRUE(b.Add(0, Msg(R"(
      prompt_logprobs {}
      prompt_logprobs { chosen { token_id: 2 logprob: -3 token: "Hi" } }
      samples { index: 0 text: "!" token_ids: [3]
        logprobs { chosen { token_id: 3 logprob: -1 token: "!" } }
        finish_reason: FINISH_REASON_LENGTH }
      usage { prompt_tokens: 2 completion_tokens: 1 })"))
                  .ok());
  const Json out = b.Build();
  EXPECT_EQ(out["choices"][0]["text"], "<s>Hi!");
  EXPECT_EQ(out["choices"][0]["logprobs"], Json::parse(R"({
    "text_offset": [0, 3, 5], "token_logprobs": [null, -3.0, -1.0], "tokens": ["<s>", "Hi", "!"],
    "top_logprobs": [null, {"Hi": -3.0}, {"!": -1.0}]})"));
}

TEST(CompletionResponseBuilder, StreamingSendsOneChunkPerDeltaThenUsage) {
  const CompletionCall call =
      Call(R"({"prompt": "a", "stream": true, "stream_options": {"include_usage": true},
               "echo": true})");
  CompletionResponseBuilder b(call, Header());
  std::vector<Json> chunks;
  for (const char* m : {R"(samples { index: 0 text: "b" })",
                        R"(samples { index: 0 token_ids: [200] })",  // half a character
                        R"(samples { index: 0 text: "c" finish_reason: FINISH_REASON_STOP }
                           usage { prompt_tokens: 1 completion_tokens: 3 })"}) {
    absl::StatusOr<std::vector<Json>> c = b.StreamChunks(0, Msg(m));
    ASSERT_TRUE(c.ok()) << c.status();
    chunks.insert(chunks.end(), c->begin(), c->end());
  }
  for (const Json& c : b.StreamEnd()) chunks.push_back(c);
  const Json head = Json::parse(
      R"({"id": "cmpl-1", "object": "text_completion", "created": 1700000000, "model": "tiny"})");
  auto chunk = [&](const char* choice) {
    Json j = head;
    j["choices"] = Json::array({Json::parse(choice)});
    j["usage"] = nullptr;
    return j;
  };
  Json usage = head;
  usage["choices"] = Json::array();
  usage["usage"] = Json::parse(R"({"prompt_tokens": 1, "total_tokens": 4, "completion_tokens": 3,
                      "prompt_tokens_details": {"cached_tokens": 0}})");
  const std::vector<Json> expected = {
      chunk(R"({"index": 0, "text": "ab", "logprobs": null, "finish_reason": null,
                "stop_reason": null})"),
      chunk(R"({"index": 0, "text": "c", "logprobs": null, "finish_reason": "stop",
                "stop_reason": null})"),
      usage};
  EXPECT_EQ(chunks, expected);
}

TEST(CompletionResponseBuilder, StreamingWithoutUsageHasNoUsageField) {
  const CompletionCall call = Call(R"({"prompt": "a", "stream": true})");
  CompletionResponseBuilder b(call, Header());
  absl::StatusOr<std::vector<Json>> c = b.StreamChunks(0, Msg(R"(samples { index: 0 text: "b" })"));
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->size(), 1u);
  EXPECT_FALSE((*c)[0].contains("usage"));
  EXPECT_TRUE(b.StreamEnd().empty());
}

}  // namespace
}  // namespace tessera::openai
