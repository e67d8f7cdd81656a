// --max-model-len (vLLM's name): serving a shorter context than the model's
// max_position_embeddings, so that the KV cache needs to hold one request of that length only.
// Engines apply it to their copy of the config; everything sized by the context follows.
#ifndef TESSERA_ENGINE_CONTEXT_LIMIT_H_
#define TESSERA_ENGINE_CONTEXT_LIMIT_H_

#include <cstdint>

#include "absl/status/status.h"
#include "engine/model_config.h"

namespace tessera {

// max_model_len 0 leaves `config` alone; 1..max_position_embeddings becomes its context.
// InvalidArgument naming --max-model-len and the model's context otherwise.
absl::Status ApplyMaxModelLen(int64_t max_model_len, ModelConfig* config);

}  // namespace tessera

#endif  // TESSERA_ENGINE_CONTEXT_LIMIT_H_
