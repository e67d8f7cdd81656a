#include "server/openai/json_body.h"
namespace tessera::openai {
absl::StatusOr<nlohmann::ordered_json> ParseJsonBody(std::string_view) {
  return absl::UnimplementedError("openai: not yet");
}
}  // namespace tessera::openai
