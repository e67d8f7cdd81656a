// Tool calls parsed out of model output, in the exact formats the fixture templates teach
// (rendered through the templates, so the expected strings are not this parser's own).
#include "server/openai/tool_call_parser.h"

#include <string>

#include "gtest/gtest.h"
#include "server/openai/tool_call_stream.h"
#include "tests/server/openai/fixture_templates.h"

namespace tessera::openai {
namespace {

using Json = nlohmann::ordered_json;

// What `file`'s template renders for an assistant turn that calls get_current_weather: the text
// the model is taught to produce, cut from the end of the previous turn's header to the
// end-of-turn token.
std::optional<std::string> TaughtCallText(const std::string& file, const std::string& header,
                                          const std::string& end_of_turn) {
  std::optional<testing::FixtureFile> f = testing::LoadFixtureFile(file);
  if (!f) return std::nullopt;
  chat_template::ChatRequest request;
  request.messages = Json::parse(R"([
      {"role": "user", "content": "Weather in Zürich?"},
      {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function",
        "function": {"name": "get_current_weather",
                     "arguments": {"city": "Zürich", "unit": "celsius"}}}]}])");
  request.tools = Json::parse(R"([{"type": "function", "function": {
      "name": "get_current_weather", "parameters": {"type": "object"}}}])");
  absl::StatusOr<std::string> prompt = testing::TemplateOf(*f).Apply(request);
  EXPECT_TRUE(prompt.ok()) << prompt.status();
  if (!prompt.ok()) return std::nullopt;
  const size_t start = prompt->rfind(header);
  EXPECT_NE(start, std::string::npos) << *prompt;
  const size_t body = start + header.size();
  const size_t end = prompt->find(end_of_turn, body);
  EXPECT_NE(end, std::string::npos) << *prompt;
  return prompt->substr(body, end - body);
}

void ExpectWeatherCall(const ParsedOutput& out) {
  ASSERT_EQ(out.calls.size(), 1u) << out.content;
  EXPECT_EQ(out.calls[0].name, "get_current_weather");
  EXPECT_EQ(Json::parse(out.calls[0].arguments_json),
            Json::parse(R"({"city": "Zürich", "unit": "celsius"})"));
  EXPECT_TRUE(out.calls[0].id.starts_with("chatcmpl-tool-"));
  EXPECT_EQ(out.calls[0].id.size(), std::string("chatcmpl-tool-").size() + 32);
  EXPECT_EQ(out.content, "");
}

// The same text fed one byte at a time through the streaming parser.
ParsedOutput Streamed(ToolCallStyle style, const std::string& text) {
  ToolCallStream stream(style);
  ParsedOutput out;
  auto take = [&](ToolCallStream::Delta d) {
    out.content += d.content;
    for (ToolCall& c : d.calls) out.calls.push_back(std::move(c));
  };
  for (char c : text) take(stream.Feed(std::string(1, c)));
  take(stream.Finish());
  return out;
}

TEST(ToolCallParser, Llama31TaughtFormat) {
  std::optional<std::string> text =
      TaughtCallText("llama3_1", "<|start_header_id|>assistant<|end_header_id|>\n\n", "<|eot_id|>");
  if (!text) GTEST_SKIP() << "no llama3_1 fixture";
  EXPECT_EQ(
      *text,
      R"({"name": "get_current_weather", "parameters": {"city": "Zürich", "unit": "celsius"}})");
  ExpectWeatherCall(ParseToolCalls(ToolCallStyle::kLlama3Json, *text));
  ExpectWeatherCall(Streamed(ToolCallStyle::kLlama3Json, *text));
  // After <|python_tag|> (when special tokens are kept in the text).
  ExpectWeatherCall(ParseToolCalls(ToolCallStyle::kLlama3Json, "<|python_tag|>" + *text));
}

TEST(ToolCallParser, Qwen25TaughtFormat) {
  std::optional<std::string> text =
      TaughtCallText("qwen2_5", "<|im_start|>assistant\n", "<|im_end|>");
  if (!text) GTEST_SKIP() << "no qwen2_5 fixture";
  EXPECT_EQ(*text,
            "<tool_call>\n{\"name\": \"get_current_weather\", \"arguments\": {\"city\": "
            "\"Zürich\", \"unit\": \"celsius\"}}\n</tool_call>");
  ExpectWeatherCall(ParseToolCalls(ToolCallStyle::kHermes, *text));
  ExpectWeatherCall(Streamed(ToolCallStyle::kHermes, *text));
}

TEST(ToolCallParser, DetectsTheFixtureTemplatesStyles) {
  const std::vector<testing::FixtureFile> files = testing::LoadFixtureFiles();
  if (files.empty()) GTEST_SKIP() << "no fixtures";
  for (const testing::FixtureFile& f : files) {
    const ToolCallStyle style = DetectToolCallStyle(f.json["template"].get<std::string>());
    const ToolCallStyle expected = f.name == "llama3_1"  ? ToolCallStyle::kLlama3Json
                                   : f.name == "qwen2_5" ? ToolCallStyle::kHermes
                                                         : ToolCallStyle::kNone;
    EXPECT_EQ(style, expected) << f.name;
    // The probe render reads the same off the loaded template.
    EXPECT_EQ(DetectToolCallStyle(testing::TemplateOf(f)), expected) << f.name;
  }
}

TEST(ToolCallParser, StyleNames) {
  EXPECT_EQ(ToolCallStyleName(ToolCallStyle::kHermes), "hermes");
  EXPECT_EQ(ToolCallStyleFromName("llama3_json").value(), ToolCallStyle::kLlama3Json);
  EXPECT_EQ(ToolCallStyleFromName("none").value(), ToolCallStyle::kNone);
  EXPECT_EQ(ToolCallStyleFromName("mistral").status().message(),
            "unknown tool-call parser \"mistral\"; known: none, llama3_json, hermes");
}

TEST(ToolCallParser, HermesSeveralCallsContentAndMalformedBlocks) {
  const std::string text =
      "Let me check.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": 1}}\n</tool_call>\n"
      "<tool_call>\n{\"name\": \"b\", \"arguments\": {}}\n</tool_call>\n"
      "<tool_call>{not json}</tool_call>";
  for (const ParsedOutput& out :
       {ParseToolCalls(ToolCallStyle::kHermes, text), Streamed(ToolCallStyle::kHermes, text)}) {
    ASSERT_EQ(out.calls.size(), 2u);
    EXPECT_EQ(out.calls[0].name, "a");
    EXPECT_EQ(out.calls[0].arguments_json, R"({"x":1})");
    EXPECT_EQ(out.calls[1].name, "b");
    EXPECT_EQ(out.calls[1].arguments_json, "{}");
    EXPECT_NE(out.calls[0].id, out.calls[1].id);
    EXPECT_EQ(out.content, "Let me check.\n\n\n<tool_call>{not json}</tool_call>");
  }
}

TEST(ToolCallParser, HermesEdgeCases) {
  // No call: all content, and a lone '<' or a near-tag is released by the stream in the end.
  for (const std::string text : {"plain text", "a < b", "x <tool_", "<tool_call>{\"name\": 1}"}) {
    EXPECT_EQ(ParseToolCalls(ToolCallStyle::kHermes, text).content, text);
    EXPECT_TRUE(ParseToolCalls(ToolCallStyle::kHermes, text).calls.empty());
    EXPECT_EQ(Streamed(ToolCallStyle::kHermes, text).content, text);
  }
  // The output ended before </tool_call> (a stop string, max_tokens) but the JSON is whole.
  const ParsedOutput open = ParseToolCalls(
      ToolCallStyle::kHermes, "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"k\": \"v\"}}\n");
  ASSERT_EQ(open.calls.size(), 1u);
  EXPECT_EQ(open.calls[0].arguments_json, R"({"k":"v"})");
  // Arguments written as a JSON string of the object are read too.
  const ParsedOutput stringly = ParseToolCalls(
      ToolCallStyle::kHermes, R"(<tool_call>{"name": "f", "arguments": "{\"k\": 2}"}</tool_call>)");
  ASSERT_EQ(stringly.calls.size(), 1u);
  EXPECT_EQ(stringly.calls[0].arguments_json, R"({"k":2})");
  // Missing arguments or a non-object: not a call.
  EXPECT_TRUE(ParseToolCalls(ToolCallStyle::kHermes, R"(<tool_call>{"name": "f"}</tool_call>)")
                  .calls.empty());
  EXPECT_TRUE(ParseToolCalls(ToolCallStyle::kHermes,
                             R"(<tool_call>{"name": "f", "arguments": 3}</tool_call>)")
                  .calls.empty());
}

TEST(ToolCallParser, Llama3SeveralCallsAndContent) {
  const std::string text =
      R"(<|python_tag|>{"name": "a", "parameters": {"q": "x;y"}}; {"name": "b", "parameters": {}})";
  for (const ParsedOutput& out : {ParseToolCalls(ToolCallStyle::kLlama3Json, text),
                                  Streamed(ToolCallStyle::kLlama3Json, text)}) {
    ASSERT_EQ(out.calls.size(), 2u);
    EXPECT_EQ(out.calls[0].name, "a");
    EXPECT_EQ(out.calls[0].arguments_json, R"({"q":"x;y"})");
    EXPECT_EQ(out.calls[1].name, "b");
    EXPECT_EQ(out.content, "");
  }
  // Output that is not wholly calls stays content, all of it.
  for (const std::string other :
       {"The weather is fine.", R"({"name": "a", "parameters": {}} and then some text)",
        R"({"name": "a", "parameters": {})", R"({"answer": 42})", " {\"name\": \"a\"}",
        "<|python_ta"}) {
    const ParsedOutput out = ParseToolCalls(ToolCallStyle::kLlama3Json, other);
    EXPECT_TRUE(out.calls.empty()) << other;
    EXPECT_EQ(out.content, other);
    const ParsedOutput streamed = Streamed(ToolCallStyle::kLlama3Json, other);
    EXPECT_TRUE(streamed.calls.empty()) << other;
    EXPECT_EQ(streamed.content, other);
  }
}

TEST(ToolCallStream, PlainTextPassesAtOnceAndTagsAreWithheld) {
  ToolCallStream hermes(ToolCallStyle::kHermes);
  EXPECT_EQ(hermes.Feed("Hello ").content, "Hello ");
  EXPECT_EQ(hermes.Feed("wor<tool").content, "wor");  // "<tool" may open a call
  ToolCallStream::Delta d = hermes.Feed("_call>{\"name\": \"f\", \"arguments\": {}}");
  EXPECT_EQ(d.content, "");
  EXPECT_TRUE(d.calls.empty());
  d = hermes.Feed("</tool_call> bye");
  ASSERT_EQ(d.calls.size(), 1u);
  EXPECT_EQ(d.calls[0].name, "f");
  EXPECT_EQ(d.content, " bye");

  ToolCallStream llama(ToolCallStyle::kLlama3Json);
  EXPECT_EQ(llama.Feed("  ").content, "");  // undecided
  EXPECT_EQ(llama.Feed("Sure").content, "  Sure");
  EXPECT_EQ(llama.Feed(", {x}").content, ", {x}");
  EXPECT_EQ(llama.Finish().content, "");

  ToolCallStream calls(ToolCallStyle::kLlama3Json);
  EXPECT_EQ(calls.Feed("{\"name\": \"f\", ").content, "");
  EXPECT_EQ(calls.Feed("\"parameters\": {}}").content, "");
  d = calls.Finish();
  ASSERT_EQ(d.calls.size(), 1u);
  EXPECT_EQ(d.calls[0].name, "f");
}

}  // namespace
}  // namespace tessera::openai
