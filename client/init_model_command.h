// `tessera init-model`: writes a random-weight Hugging Face-style checkpoint of a preset shape,
// for runs and benchmarks that must not download anything.
#ifndef TESSERA_CLIENT_INIT_MODEL_COMMAND_H_
#define TESSERA_CLIENT_INIT_MODEL_COMMAND_H_

#include "CLI/CLI.hpp"

namespace tessera {

void AddInitModelCommand(CLI::App& app, int* exit_code);

}  // namespace tessera

#endif  // TESSERA_CLIENT_INIT_MODEL_COMMAND_H_
