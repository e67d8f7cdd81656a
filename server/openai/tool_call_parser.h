// Tool calls in a model's output text -> OpenAI tool_calls, for the two formats that the common
// chat templates teach (vLLM's --tool-call-parser names):
//   llama3_json  Llama 3.1/3.2: {"name": "f", "parameters": {...}}, optionally after
//                <|python_tag|>, several separated by ';'. Only output that is wholly calls is
//                read as calls (as vLLM's llama3_json parser), else it all stays content.
//   hermes       Hermes / Qwen2.5: <tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call>,
//                several; the text outside the tags stays content.
// A call that is not valid JSON of that shape stays content, untouched.
//
// Stateless; thread-safe.
#ifndef TESSERA_SERVER_OPENAI_TOOL_CALL_PARSER_H_
#define TESSERA_SERVER_OPENAI_TOOL_CALL_PARSER_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "text/chat_template/chat_template.h"

namespace tessera::openai {

enum class ToolCallStyle { kNone, kLlama3Json, kHermes };

// "none", "llama3_json", "hermes".
std::string_view ToolCallStyleName(ToolCallStyle style);
// The inverse; InvalidArgument naming the known names for anything else.
absl::StatusOr<ToolCallStyle> ToolCallStyleFromName(std::string_view name);

// The style a chat template's source teaches: "<tool_call>" -> hermes; Llama 3.1's
// '"parameters"' JSON form (with <|python_tag|> or "{\"name\"") -> llama3_json; else none.
ToolCallStyle DetectToolCallStyle(std::string_view template_source);
// The same for a loaded template, whose source the caller may not have: renders a probe
// conversation with one tool call and reads the format off the output ("<tool_call>" ->
// hermes; {"name": ..., "parameters": ...} -> llama3_json); none when the template renders no
// call or refuses the probe.
ToolCallStyle DetectToolCallStyle(const chat_template::ChatTemplate& tmpl);

struct ToolCall {
  std::string id;  // "chatcmpl-tool-" + 32 hex digits
  std::string name;
  std::string arguments_json;  // the arguments object, serialised compactly
};

struct ParsedOutput {
  std::string content;  // the text that is not a call (may be empty)
  std::vector<ToolCall> calls;
};

ParsedOutput ParseToolCalls(ToolCallStyle style, std::string_view text);

// Building blocks the streaming parser (tool_call_stream.h) shares.
inline constexpr std::string_view kHermesOpen = "<tool_call>";
inline constexpr std::string_view kHermesClose = "</tool_call>";
inline constexpr std::string_view kPythonTag = "<|python_tag|>";
// The end (one past the closing brace) of the JSON object that starts at text[start] == '{',
// found by balancing braces outside strings; npos when the text ends first.
size_t JsonObjectEnd(std::string_view text, size_t start);
// One call's JSON, {"name": string, <args_key>: object (or a JSON string of one)}; nullopt when
// it is not that. `args_key` "arguments" (hermes) or "parameters" (llama3_json; "arguments" is
// read too, as vLLM reads it).
std::optional<ToolCall> ReadCallJson(std::string_view json, ToolCallStyle style);

}  // namespace tessera::openai

#endif  // TESSERA_SERVER_OPENAI_TOOL_CALL_PARSER_H_
