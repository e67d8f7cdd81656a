#include "server/openai/tokenize.h"
namespace tessera::openai {
absl::StatusOr<TokenizeCall> ParseTokenizeRequest(const nlohmann::ordered_json&,
                                                  const chat_template::ChatTemplate*) {
  return absl::UnimplementedError("openai: not yet");
}
nlohmann::ordered_json TokenizeResponseJson(const std::vector<int32_t>&, int64_t,
                                            const std::optional<std::vector<std::string>>&) {
  return {};
}
absl::StatusOr<DetokenizeCall> ParseDetokenizeRequest(const nlohmann::ordered_json&) {
  return absl::UnimplementedError("openai: not yet");
}
nlohmann::ordered_json DetokenizeResponseJson(const std::string&) { return {}; }
}  // namespace tessera::openai
