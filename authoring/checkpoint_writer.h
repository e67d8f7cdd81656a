// Writes a Hugging Face-style model directory (config.json + safetensors, single file or shards
// with an index) with random weights of a given ModelConfig. Used for the no-download main job,
// synthetic benchmarks and loader round-trip tests.
#ifndef TESSERA_AUTHORING_CHECKPOINT_WRITER_H_
#define TESSERA_AUTHORING_CHECKPOINT_WRITER_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "engine/dtype.h"
#include "engine/model_config.h"

namespace tessera {

struct RandomCheckpointOptions {
  DType dtype = DType::kBF16;
  int num_shards = 1;  // > 1 writes model-0000i-of-0000n.safetensors + model.safetensors.index.json
  uint64_t seed = 0;
  float scale = 0.05f;  // weights uniform in [-scale, scale]; norms in [0.8, 1.2]
};

// config.json text for `config` in transformers' field names.
std::string ModelConfigToJson(const ModelConfig& config);

// Creates `dir` if needed and writes config.json and the weights.
absl::Status WriteRandomCheckpoint(const std::string& dir, const ModelConfig& config,
                                   const RandomCheckpointOptions& options);

}  // namespace tessera

#endif  // TESSERA_AUTHORING_CHECKPOINT_WRITER_H_
