#include "server/openai/gateway_headers.h"
namespace tessera::openai {
absl::StatusOr<GatewayHeaders> ParseGatewayHeaders(
    const std::vector<std::pair<std::string, std::string>>&) {
  return absl::UnimplementedError("openai: not yet");
}
}  // namespace tessera::openai
