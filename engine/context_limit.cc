#include "engine/context_limit.h"

#include "absl/strings/str_cat.h"

namespace tessera {

absl::Status ApplyMaxModelLen(int64_t max_model_len, ModelConfig* config) {
  if (max_model_len == 0) return absl::OkStatus();
  if (max_model_len < 0 || max_model_len > config->max_position_embeddings) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max-model-len must be in [1, ", config->max_position_embeddings,
                     "] (the model's max_position_embeddings), got ", max_model_len));
  }
  config->max_position_embeddings = max_model_len;
  return absl::OkStatus();
}

}  // namespace tessera
