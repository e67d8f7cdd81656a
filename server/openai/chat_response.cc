#include "server/openai/chat_response.h"

#include <utility>
namespace tessera::openai {
ChatResponseBuilder::ChatResponseBuilder(const ChatCall& call, ResponseHeader header)
    : call_(call), header_(std::move(header)) {}
absl::Status ChatResponseBuilder::Add(const v1::GenerateResponse&) {
  return absl::UnimplementedError("openai: not yet");
}
nlohmann::ordered_json ChatResponseBuilder::Build() const { return {}; }
absl::StatusOr<std::vector<nlohmann::ordered_json>> ChatResponseBuilder::StreamChunks(
    const v1::GenerateResponse&) {
  return absl::UnimplementedError("openai: not yet");
}
std::vector<nlohmann::ordered_json> ChatResponseBuilder::StreamEnd() const { return {}; }
}  // namespace tessera::openai
