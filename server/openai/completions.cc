#include "server/openai/completions.h"
namespace tessera::openai {
absl::StatusOr<CompletionCall> ParseCompletionRequest(const nlohmann::ordered_json&) {
  return absl::UnimplementedError("openai: not yet");
}
}  // namespace tessera::openai
