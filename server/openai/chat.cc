#include "server/openai/chat.h"
namespace tessera::openai {
absl::StatusOr<ChatCall> ParseChatRequest(const nlohmann::ordered_json&,
                                          const chat_template::ChatTemplate&, ToolCallStyle) {
  return absl::UnimplementedError("openai: not yet");
}
absl::StatusOr<chat_template::ChatRequest> ToTemplateRequest(const nlohmann::ordered_json&) {
  return absl::UnimplementedError("openai: not yet");
}
}  // namespace tessera::openai
