#include "server/openai/tool_call_parser.h"
namespace tessera::openai {
std::string_view ToolCallStyleName(ToolCallStyle) { return "none"; }
absl::StatusOr<ToolCallStyle> ToolCallStyleFromName(std::string_view) {
  return absl::UnimplementedError("openai: not yet");
}
ToolCallStyle DetectToolCallStyle(std::string_view) { return ToolCallStyle::kNone; }
ParsedOutput ParseToolCalls(ToolCallStyle, std::string_view text) {
  return {std::string(text), {}};
}
}  // namespace tessera::openai
