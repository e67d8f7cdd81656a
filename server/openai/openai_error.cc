#include "server/openai/openai_error.h"
namespace tessera::openai {
nlohmann::json ToJson(const OpenAiError&) { return {}; }
OpenAiError FromStatus(const absl::Status&, std::string) { return {}; }
absl::Status InvalidParam(std::string_view, std::string_view, absl::StatusCode) {
  return absl::UnimplementedError("openai: not yet");
}
std::string ParamOf(const absl::Status&) { return ""; }
OpenAiError ModelNotFound(std::string_view) { return {}; }
OpenAiError BodyTooLarge(int64_t, int64_t) { return {}; }
}  // namespace tessera::openai
