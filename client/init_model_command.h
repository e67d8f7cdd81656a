// `tessera init-model`: writes a random-weight Hugging Face-style checkpoint of a preset shape,
// for runs and benchmarks that must not download anything.
#ifndef TESSERA_CLIENT_INIT_MODEL_COMMAND_H_
#define TESSERA_CLIENT_INIT_MODEL_COMMAND_H_

#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "engine/model_config.h"

namespace tessera {

// "tiny-llama" (the shape of the tiny-llama test fixture) or "llama-small" (~57M parameters).
absl::StatusOr<ModelConfig> PresetModelConfig(const std::string& preset);

void AddInitModelCommand(CLI::App& app, int* exit_code);

}  // namespace tessera

#endif  // TESSERA_CLIENT_INIT_MODEL_COMMAND_H_
