#include "server/openai/completion_response.h"

#include <utility>
namespace tessera::openai {
CompletionResponseBuilder::CompletionResponseBuilder(const CompletionCall& call,
                                                     ResponseHeader header, Detokenizer detokenizer)
    : call_(call), header_(std::move(header)), detokenizer_(std::move(detokenizer)) {}
absl::Status CompletionResponseBuilder::Add(int, const v1::GenerateResponse&) {
  return absl::UnimplementedError("openai: not yet");
}
nlohmann::ordered_json CompletionResponseBuilder::Build() const { return {}; }
absl::StatusOr<std::vector<nlohmann::ordered_json>> CompletionResponseBuilder::StreamChunks(
    int, const v1::GenerateResponse&) {
  return absl::UnimplementedError("openai: not yet");
}
std::vector<nlohmann::ordered_json> CompletionResponseBuilder::StreamEnd() const { return {}; }
}  // namespace tessera::openai
