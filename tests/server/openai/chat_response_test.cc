// The chat response builder against hand-written OpenAI chat.completion(.chunk) JSON.
#include "server/openai/chat_response.h"

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

ResponseHeader Header() { return ResponseHeader{"chatcmpl-1", 1700000000, "tiny"}; }

Json Head(const char* object) {
  Json j;
  j["id"] = "chatcmpl-1";
  j["object"] = object;
  j["created"] = 1700000000;
  j["model"] = "tiny";
  return j;
}

// Every chunk of a stream of messages, then the end.
std::vector<Json> Stream(ChatResponseBuilder& b, const std::vector<std::string>& messages) {
  std::vector<Json> chunks;
  for (const std::string& m : messages) {
    absl::StatusOr<std::vector<Json>> c = b.StreamChunks(Msg(m));
    EXPECT_TRUE(c.ok()) << c.status();
    if (c.ok()) chunks.insert(chunks.end(), c->begin(), c->end());
  }
  for (const Json& c : b.StreamEnd()) chunks.push_back(c);
  return chunks;
}

TEST(ChatResponseBuilder, WholeResponse) {
  ChatCall call;
  call.n = 2;
  ChatResponseBuilder b(call, Header());
  ASSERT_TRUE(
      b.Add(Msg(R"(samples { index: 0 text: "Hi" } samples { index: 1 text: "Yo" })")).ok());
  ASSERT_TRUE(b.Add(Msg(R"(samples { index: 0 text: "!" finish_reason: FINISH_REASON_STOP
                                     stop_token_id: 2 }
                          samples { index: 1 finish_reason: FINISH_REASON_LENGTH }
                          usage { prompt_tokens: 4 completion_tokens: 5
                                  cached_prompt_tokens: 2 })"))
                  .ok());
  Json expected = Head("chat.completion");
  expected["choices"] = Json::parse(R"([
      {"index": 0, "message": {"role": "assistant", "content": "Hi!"}, "logprobs": null,
       "finish_reason": "stop", "stop_reason": 2},
      {"index": 1, "message": {"role": "assistant", "content": "Yo"}, "logprobs": null,
       "finish_reason": "length", "stop_reason": null}])");
  expected["usage"] = Json::parse(R"({"prompt_tokens": 4, "total_tokens": 9,
                                      "completion_tokens": 5,
                                      "prompt_tokens_details": {"cached_tokens": 2}})");
  EXPECT_EQ(b.Build(), expected);
  EXPECT_EQ(b.Add(Msg("samples { index: 2 }")).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ChatResponseBuilder, ToolCallsBecomeMessageToolCalls) {
  ChatCall call;
  call.tools_given = true;
  call.style = ToolCallStyle::kHermes;
  ChatResponseBuilder b(call, Header());
  ASSERT_TRUE(b.Add(Msg(R"(samples { index: 0
      text: "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"
      finish_reason: FINISH_REASON_STOP }
      usage { prompt_tokens: 4 completion_tokens: 20 })"))
                  .ok());
  const Json out = b.Build();
  const Json& choice = out["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  EXPECT_TRUE(choice["message"]["content"].is_null());
  ASSERT_EQ(choice["message"]["tool_calls"].size(), 1u);
  Json tool_call = choice["message"]["tool_calls"][0];
  EXPECT_TRUE(tool_call["id"].get<std::string>().starts_with("chatcmpl-tool-"));
  tool_call.erase("id");
  EXPECT_EQ(tool_call, Json::parse(R"({"type": "function", "function": {"name": "get_weather",
                                       "arguments": "{\"city\":\"Paris\"}"}})"));
}

TEST(ChatResponseBuilder, WithoutToolsAToolCallIsText) {
  ChatCall call;
  ChatResponseBuilder b(call, Header());
  const char* text = R"(<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>)";
  ASSERT_TRUE(b.Add(Msg(std::string("samples { index: 0 text: \"") + text +
                        "\" finish_reason: FINISH_REASON_STOP }"))
                  .ok());
  const Json out = b.Build();
  EXPECT_EQ(out["choices"][0]["finish_reason"], "stop");
  EXPECT_FALSE(out["choices"][0]["message"].contains("tool_calls"));
}

TEST(ChatResponseBuilder, LogprobsShape) {
  ChatCall call;
  call.logprobs = true;
  call.top_logprobs = 1;
  ChatResponseBuilder b(call, Header());
  ASSERT_TRUE(b.Add(Msg(R"(samples { index: 0 text: "é"
      logprobs { chosen { token_id: 5 logprob: -0.5 token: "é" }
                 top { token_id: 5 logprob: -0.5 token: "é" }
                 top { token_id: 9 logprob: -1.5 token: "x" } }
      logprobs { chosen { token_id: 6 logprob: -inf } }
      finish_reason: FINISH_REASON_LENGTH })"))
                  .ok());
  EXPECT_EQ(b.Build()["choices"][0]["logprobs"], Json::parse(R"({"content": [
      {"token": "é", "logprob": -0.5, "bytes": [195, 169],
       "top_logprobs": [{"token": "é", "logprob": -0.5, "bytes": [195, 169]}]},
      {"token": "token_id:6", "logprob": -9999.0,
       "bytes": [116, 111, 107, 101, 110, 95, 105, 100, 58, 54], "top_logprobs": []}]})"));
}

TEST(ChatResponseBuilder, StreamingRoleThenContentThenFinishThenUsage) {
  ChatCall call;
  call.stream = true;
  call.include_usage = true;
  ChatResponseBuilder b(call, Header());
  const std::vector<Json> chunks =
      Stream(b, {R"(samples { index: 0 text: "Hel" })", R"(samples { index: 0 token_ids: [200] })",
                 R"(samples { index: 0 text: "lo" finish_reason: FINISH_REASON_STOP }
             usage { prompt_tokens: 3 completion_tokens: 3 })"});
  auto chunk = [](const char* choice) {
    Json j = Head("chat.completion.chunk");
    j["choices"] = Json::array({Json::parse(choice)});
    j["usage"] = nullptr;
    return j;
  };
  Json usage = Head("chat.completion.chunk");
  usage["choices"] = Json::array();
  usage["usage"] = Json::parse(R"({"prompt_tokens": 3, "total_tokens": 6, "completion_tokens": 3,
                      "prompt_tokens_details": {"cached_tokens": 0}})");
  const std::vector<Json> expected = {
      chunk(R"({"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null,
                "finish_reason": null})"),
      chunk(R"({"index": 0, "delta": {"content": "Hel"}, "logprobs": null,
                "finish_reason": null})"),
      chunk(R"({"index": 0, "delta": {"content": "lo"}, "logprobs": null,
                "finish_reason": "stop"})"),
      usage};
  EXPECT_EQ(chunks, expected);
}

TEST(ChatResponseBuilder, StreamingToolCallsAndEcho) {
  ChatCall call;
  call.stream = true;
  call.tools_given = true;
  call.style = ToolCallStyle::kHermes;
  call.echo_text = "Sure";
  ChatResponseBuilder b(call, Header());
  const std::vector<Json> chunks = Stream(
      b, {R"(samples { index: 0 text: ". <tool" })",
          R"(samples { index: 0 text: "_call>{\"name\": \"f\", \"arguments\": {\"a\": 1}}" })",
          R"(samples { index: 0 text: "</tool_call>" finish_reason: FINISH_REASON_STOP })"});
  ASSERT_EQ(chunks.size(), 4u);
  EXPECT_EQ(chunks[0]["choices"][0]["delta"], Json::parse(R"({"role": "assistant",
                                                              "content": ""})"));
  EXPECT_EQ(chunks[1]["choices"][0]["delta"], Json::parse(R"({"content": "Sure"})"));
  EXPECT_EQ(chunks[2]["choices"][0]["delta"], Json::parse(R"({"content": ". "})"));
  EXPECT_FALSE(chunks[2].contains("usage"));
  // The call is withheld until whole (the second message sends nothing), then sent in one
  // delta with the finish reason.
  Json calls = chunks[3]["choices"][0]["delta"]["tool_calls"];
  ASSERT_EQ(calls.size(), 1u);
  calls[0].erase("id");
  EXPECT_EQ(calls[0], Json::parse(R"({"type": "function", "function": {"name": "f",
                                      "arguments": "{\"a\":1}"}, "index": 0})"));
  EXPECT_EQ(chunks[3]["choices"][0]["finish_reason"], "tool_calls");
}

}  // namespace
}  // namespace tessera::openai
