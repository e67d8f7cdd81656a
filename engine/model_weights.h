// The tensors a decoder of a given ModelConfig needs: Hugging Face names and shapes.
//
// Backends load weights through this list, so every backend checks the same things: each tensor
// present with its expected shape, nothing silently skipped (a skipped norm or bias would still
// "run" but give wrong answers).
#ifndef TESSERA_ENGINE_MODEL_WEIGHTS_H_
#define TESSERA_ENGINE_MODEL_WEIGHTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/checkpoint.h"
#include "engine/model_config.h"

namespace tessera {

// Which weight of the model a tensor is.
enum class WeightKind : uint8_t {
  kEmbedding,
  kLmHead,
  kFinalNorm,
  kInputNorm,
  kPostAttentionNorm,
  kQ,
  kK,
  kV,
  kO,
  kQBias,
  kKBias,
  kVBias,
  kOBias,
  kGate,
  kUp,
  kDown,
  kGateBias,
  kUpBias,
  kDownBias,
};

struct WeightSpec {
  WeightKind kind;
  int32_t layer = -1;  // -1 for model-level tensors
  std::string name;    // Hugging Face tensor name
  std::vector<int64_t> shape;
};

// Every tensor the model needs, model-level first, then layer by layer. A tied model has no
// lm_head.
std::vector<WeightSpec> ExpectedWeights(const ModelConfig& config);

// Checks that `checkpoint` holds every expected tensor with its shape (errors name file and
// tensor).
absl::Status ValidateCheckpoint(const ModelConfig& config, const Checkpoint& checkpoint);

}  // namespace tessera

#endif  // TESSERA_ENGINE_MODEL_WEIGHTS_H_
