#include "server/openai/lora_requests.h"
namespace tessera::openai {
absl::StatusOr<LoadLoraCall> ParseLoadLoraRequest(const nlohmann::ordered_json&) {
  return absl::UnimplementedError("openai: not yet");
}
absl::StatusOr<UnloadLoraCall> ParseUnloadLoraRequest(const nlohmann::ordered_json&) {
  return absl::UnimplementedError("openai: not yet");
}
std::string LoadLoraSuccessText(const std::string&) { return ""; }
std::string UnloadLoraSuccessText(const std::string&) { return ""; }
}  // namespace tessera::openai
