// `tessera health`: asks a tesserad's grpc.health.v1 service how it is.
//
//   tessera health --server HOST:PORT [--service NAME] + the connection flags
//
// Prints SERVING, NOT_SERVING or UNKNOWN (SERVICE_UNKNOWN when the server does not know the
// service). --service "" (the default) asks about liveness, "tessera.v1.Inference" about
// readiness. Exit codes: 0 only when SERVING, 1 otherwise (or when the call fails), 2 bad flags.
#ifndef TESSERA_CLIENT_HEALTH_COMMAND_H_
#define TESSERA_CLIENT_HEALTH_COMMAND_H_

#include <string>

#include "CLI/CLI.hpp"
#include "client/connection_flags.h"

namespace tessera {

struct HealthCommandOptions {
  ConnectionFlags connection;
  std::string service;
};

int RunHealth(const HealthCommandOptions& options);

void AddHealthCommand(CLI::App& app, int* exit_code);

}  // namespace tessera

#endif  // TESSERA_CLIENT_HEALTH_COMMAND_H_
