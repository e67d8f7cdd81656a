// `tessera model-info`: what a tesserad serves (model, backend, KV capacity, limits, version).
//
//   tessera model-info --server HOST:PORT + the connection flags
//
// Prints the tessera.v1.ModelInfoResponse as JSON, with the proto's snake_case field names and
// every field (int64 values as strings, as protobuf's JSON mapping writes them).
// Exit codes: 0 done, 1 the call failed, 2 bad flags.
#ifndef TESSERA_CLIENT_MODEL_INFO_COMMAND_H_
#define TESSERA_CLIENT_MODEL_INFO_COMMAND_H_

#include "CLI/CLI.hpp"
#include "client/connection_flags.h"

namespace tessera {

int RunModelInfo(const ConnectionFlags& connection);

void AddModelInfoCommand(CLI::App& app, int* exit_code);

}  // namespace tessera

#endif  // TESSERA_CLIENT_MODEL_INFO_COMMAND_H_
