// POST /v1/chat/completions bodies -> the prompt the fixture templates render, and the fields.
#include "server/openai/chat.h"

#include <string>

#include "gtest/gtest.h"
#include "server/openai/openai_error.h"
#include "tests/server/openai/fixture_templates.h"

namespace tessera::openai {
namespace {

using Json = nlohmann::ordered_json;
using testing::FixtureFile;

// An OpenAI client's body for a fixture case: the same conversation, with each tool call's
// arguments as a JSON string (as the OpenAI API sends them) and content null where absent.
Json BodyOf(const Json& c) {
  Json body;
  body["model"] = "m";
  Json messages = c["messages"];
  for (Json& m : messages) {
    if (!m.contains("tool_calls")) continue;
    for (Json& call : m["tool_calls"]) {
      call["function"]["arguments"] = call["function"]["arguments"].dump();
    }
  }
  body["messages"] = messages;
  if (c.contains("tools")) body["tools"] = c["tools"];
  if (c.contains("kwargs")) body["chat_template_kwargs"] = c["kwargs"];
  body["add_generation_prompt"] = c["add_generation_prompt"];
  if (c.contains("continue_final_message")) {
    body["continue_final_message"] = c["continue_final_message"];
  }
  return body;
}

TEST(ParseChatRequest, RendersEveryFixtureCaseAsTransformers) {
  const std::vector<FixtureFile> files = testing::LoadFixtureFiles();
  if (files.empty()) GTEST_SKIP() << "no chat-template fixtures";
  int rendered = 0, refused = 0;
  for (const FixtureFile& f : files) {
    const chat_template::ChatTemplate tmpl = testing::TemplateOf(f);
    for (const Json& c : f.json["cases"]) {
      SCOPED_TRACE(f.name + "/" + c["name"].get<std::string>());
      if (c.contains("now") || c.contains("documents")) continue;  // not an OpenAI field / clock
      absl::StatusOr<ChatCall> call = ParseChatRequest(BodyOf(c), tmpl);
      if (c.contains("error")) {
        ASSERT_FALSE(call.ok());
        EXPECT_EQ(call.status().message(),
                  "the chat template failed: " + c["error"].get<std::string>());
        EXPECT_EQ(ParamOf(call.status()), "messages");
        ++refused;
        continue;
      }
      ASSERT_TRUE(call.ok()) << call.status();
      EXPECT_EQ(call->request.text(), c["expected"].get<std::string>());
      EXPECT_FALSE(call->request.add_special_tokens());
      ++rendered;
    }
  }
  EXPECT_GE(rendered, 35);
  EXPECT_GE(refused, 5);
}

class ChatQwen : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = testing::LoadFixtureFile("qwen2_5");
    if (!file_) GTEST_SKIP() << "no qwen2_5 fixture";
    tmpl_.emplace(testing::TemplateOf(*file_));
  }
  absl::StatusOr<ChatCall> Parse(const char* body,
                                 ToolCallStyle style = ToolCallStyle::kHermes) const {
    return ParseChatRequest(Json::parse(body), *tmpl_, style);
  }
  std::string ErrorOf(const char* body) const {
    absl::StatusOr<ChatCall> call = Parse(body);
    if (call.ok()) return "ok";
    return ParamOf(call.status()) + ": " + std::string(call.status().message());
  }

  std::optional<FixtureFile> file_;
  std::optional<chat_template::ChatTemplate> tmpl_;
};

TEST_F(ChatQwen, TextPartsJoinWithNewlines) {
  absl::StatusOr<ChatCall> parts = Parse(R"({"messages": [{"role": "user", "content": [
      {"type": "text", "text": "Hello"}, {"type": "text", "text": "there"}]}]})");
  absl::StatusOr<ChatCall> plain =
      Parse(R"({"messages": [{"role": "user", "content": "Hello\nthere"}]})");
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(parts->request.text(), plain->request.text());
  EXPECT_NE(plain->request.text().find("<|im_start|>user\nHello\nthere<|im_end|>\n"),
            std::string::npos);
  EXPECT_TRUE(plain->request.text().ends_with("<|im_start|>assistant\n"));  // default true
}

TEST_F(ChatQwen, FieldsAndDefaults) {
  absl::StatusOr<ChatCall> call = Parse(R"({"model": "qwen", "messages": [
      {"role": "user", "content": "hi"}], "max_completion_tokens": 7, "max_tokens": 9,
      "logprobs": true, "top_logprobs": 2, "stream": true,
      "stream_options": {"include_usage": true}, "n": 2, "seed": 3, "stop": "x",
      "temperature": 0, "user": "u", "parallel_tool_calls": true, "foo": 1})");
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->model, "qwen");
  EXPECT_EQ(call->request.max_tokens(), 7);  // max_completion_tokens wins
  EXPECT_TRUE(call->max_tokens_given);
  EXPECT_TRUE(call->logprobs);
  EXPECT_EQ(call->top_logprobs, 2);
  EXPECT_EQ(call->request.logprobs(), 2);
  EXPECT_TRUE(call->stream);
  EXPECT_TRUE(call->include_usage);
  EXPECT_EQ(call->n, 2);
  EXPECT_EQ(call->request.seed(), 3u);
  EXPECT_EQ(call->request.stop(0), "x");
  EXPECT_EQ(call->request.temperature(), 0.0f);
  EXPECT_TRUE(call->request.has_temperature());
  EXPECT_EQ(call->user, "u");
  EXPECT_EQ(call->ignored_fields, std::vector<std::string>{"foo"});
  EXPECT_FALSE(call->tools_given);

  absl::StatusOr<ChatCall> defaults = Parse(R"({"messages": [{"role": "user", "content": "hi"}],
                                               "logprobs": true})");
  ASSERT_TRUE(defaults.ok());
  EXPECT_FALSE(defaults->request.has_max_tokens());  // the daemon fills in the rest of the context
  EXPECT_FALSE(defaults->max_tokens_given);
  EXPECT_EQ(defaults->request.temperature(), 1.0f);
  EXPECT_EQ(defaults->request.logprobs(), 1);  // the chosen tokens' log-probabilities
  EXPECT_EQ(defaults->top_logprobs, 0);
}

TEST_F(ChatQwen, ToolsAndToolChoice) {
  const char* with_tools = R"({"messages": [{"role": "user", "content": "weather?"}],
      "tools": [{"type": "function", "function": {"name": "get_weather",
                 "parameters": {"type": "object", "properties": {}}}}]})";
  absl::StatusOr<ChatCall> call = Parse(with_tools);
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_TRUE(call->tools_given);
  EXPECT_EQ(call->style, ToolCallStyle::kHermes);
  EXPECT_NE(call->request.text().find("<tools>"), std::string::npos);
  EXPECT_NE(call->request.text().find("\"get_weather\""), std::string::npos);

  absl::StatusOr<ChatCall> none = Parse(R"({"messages": [{"role": "user", "content": "weather?"}],
      "tool_choice": "none",
      "tools": [{"type": "function", "function": {"name": "get_weather"}}]})");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->tools_given);
  EXPECT_EQ(none->style, ToolCallStyle::kNone);
  EXPECT_EQ(none->request.text().find("<tools>"), std::string::npos);

  EXPECT_EQ(ErrorOf(R"({"messages": [{"role": "user", "content": "x"}],
      "tool_choice": "required", "tools": [{"type": "function", "function": {"name": "f"}}]})"),
            "tool_choice: tool_choice must be \"none\" or \"auto\" (\"required\" and named "
            "functions need guided decoding, which tessera does not implement)");
  EXPECT_EQ(ErrorOf(R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"a": 1}]})"),
            "tools: tools[0] must be {\"type\": \"function\", \"function\": {\"name\": ...}}");
}

TEST_F(ChatQwen, EchoTakesTheLastAssistantMessage) {
  absl::StatusOr<ChatCall> call = Parse(R"({"messages": [{"role": "user", "content": "count"},
      {"role": "assistant", "content": "1, 2,"}], "echo": true,
      "add_generation_prompt": false, "continue_final_message": true})");
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->echo_text, "1, 2,");
  EXPECT_TRUE(call->request.text().ends_with("<|im_start|>assistant\n1, 2,"));
}

TEST_F(ChatQwen, BadBodiesNameTheField) {
  EXPECT_EQ(ErrorOf(R"({"model": "m"})"), "messages: messages is required");
  EXPECT_EQ(ErrorOf(R"({"messages": {}})"), "messages: messages must be an array, not an object");
  EXPECT_EQ(ErrorOf(R"({"messages": []})"), "messages: messages is empty");
  EXPECT_EQ(ErrorOf(R"({"messages": ["hi"]})"),
            "messages: messages[0] must be an object, not a string");
  EXPECT_EQ(ErrorOf(R"({"messages": [{"content": "hi"}]})"),
            "messages: messages[0].role must be a string");
  EXPECT_EQ(ErrorOf(R"({"messages": [{"role": "user", "content": 5}]})"),
            "messages: messages[0].content must be a string or an array of content parts, not an "
            "integer");
  EXPECT_EQ(ErrorOf(R"({"messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "x"}}]}]})"),
            "messages: messages[0].content[0] has type \"image_url\"; only \"text\" parts are "
            "supported");
  EXPECT_EQ(ErrorOf(R"({"messages": [{"role": "user", "content": [{"type": "text"}]}]})"),
            "messages: messages[0].content[0].text must be a string");
  EXPECT_EQ(ErrorOf(R"({"messages": [{"role": "user", "content": "x"}, {"role": "assistant",
      "tool_calls": [{"id": "1", "type": "function",
                      "function": {"name": "f", "arguments": "{not json"}}]}]})"),
            "messages: messages[1].tool_calls[0].function.arguments is not valid JSON");
  EXPECT_EQ(ErrorOf(R"({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2})"),
            "top_logprobs: top_logprobs needs logprobs set to true");
  EXPECT_EQ(ErrorOf(R"({"messages": [{"role": "user", "content": "x"}],
                        "continue_final_message": true})"),
            "continue_final_message: continue_final_message and add_generation_prompt cannot "
            "both be true (set add_generation_prompt to false to continue the last message)");
  EXPECT_EQ(ErrorOf(R"({"messages": [{"role": "user", "content": "x"}],
                        "chat_template_kwargs": [1]})"),
            "chat_template_kwargs: chat_template_kwargs must be an object, not an array");
  EXPECT_EQ(ErrorOf(R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": -1})"),
            "max_tokens: max_tokens must be an integer in [1, 2147483647], not -1");
}

TEST(ParseChatRequest, ChatTemplateKwargsReachTheTemplate) {
  std::optional<FixtureFile> f = testing::LoadFixtureFile("llama3_1");
  if (!f) GTEST_SKIP() << "no llama3_1 fixture";
  const chat_template::ChatTemplate tmpl = testing::TemplateOf(*f);
  absl::StatusOr<ChatCall> call =
      ParseChatRequest(Json::parse(R"({"messages": [{"role": "user", "content": "hi"}],
                      "chat_template_kwargs": {"date_string": "01 Jan 2030"}})"),
                       tmpl);
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_NE(call->request.text().find("Today Date: 01 Jan 2030\n"), std::string::npos);
}

}  // namespace
}  // namespace tessera::openai
