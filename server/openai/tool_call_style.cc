// DetectToolCallStyle for a loaded template (tool_call_parser.h): a probe render.
#include <string>

#include "nlohmann/json.hpp"
#include "server/openai/tool_call_parser.h"

namespace tessera::openai {

ToolCallStyle DetectToolCallStyle(const chat_template::ChatTemplate& tmpl) {
  chat_template::ChatRequest probe;
  probe.messages = nlohmann::ordered_json::parse(R"([
      {"role": "user", "content": "probe"},
      {"role": "assistant", "content": "", "tool_calls": [{"id": "call0", "type": "function",
        "function": {"name": "tessera_probe", "arguments": {"arg": 1}}}]}])");
  probe.tools = nlohmann::ordered_json::parse(R"([{"type": "function", "function": {
      "name": "tessera_probe", "description": "probe",
      "parameters": {"type": "object", "properties": {"arg": {"type": "integer"}}}}}])");
  absl::StatusOr<std::string> out = tmpl.Apply(probe);
  if (!out.ok()) return ToolCallStyle::kNone;
  // Only what the assistant turn renders: the tools' own JSON (in the system prompt) holds
  // "name" and "parameters" too.
  const size_t call = out->rfind("tessera_probe");
  if (call == std::string::npos) return ToolCallStyle::kNone;
  const size_t open = out->rfind('{', call);
  const std::string_view turn = std::string_view(*out).substr(open == std::string::npos ? 0 : open);
  const size_t tag = out->rfind(kHermesOpen, call);
  if (tag != std::string::npos && out->find(kHermesClose, call) != std::string::npos) {
    return ToolCallStyle::kHermes;
  }
  if (turn.find("\"parameters\"") != std::string_view::npos &&
      turn.find("{\"name\": \"tessera_probe\"") == 0) {
    return ToolCallStyle::kLlama3Json;
  }
  return ToolCallStyle::kNone;
}

}  // namespace tessera::openai
