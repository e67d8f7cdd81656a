#include "server/openai/sampling_fields.h"
namespace tessera::openai {
absl::Status ReadSamplingFields(const nlohmann::ordered_json&, v1::GenerateRequest*) {
  return absl::UnimplementedError("openai: not yet");
}
}  // namespace tessera::openai
