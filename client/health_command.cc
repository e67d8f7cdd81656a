#include "client/health_command.h"

#include <iostream>
#include <memory>

namespace tessera {

int RunHealth(const HealthCommandOptions& o) {
  absl::StatusOr<std::unique_ptr<Client>> client = ConnectFromFlags(o.connection);
  if (!client.ok()) return ReportError("health", client.status());
  absl::StatusOr<HealthStatus> status = (*client)->Health(o.service);
  if (absl::IsNotFound(status.status())) {
    std::cout << "SERVICE_UNKNOWN\n";
    return 1;
  }
  if (!status.ok()) {
    ReportError("health", status.status());
    return 1;  // an unreachable server is unhealthy, not bad input
  }
  std::cout << ::grpc::health::v1::HealthCheckResponse::ServingStatus_Name(*status) << "\n";
  return *status == ::grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
}

void AddHealthCommand(CLI::App& app, int* exit_code) {
  auto o = std::make_shared<HealthCommandOptions>();
  CLI::App* cmd = app.add_subcommand("health", "Ask a tesserad whether it is serving");
  AddConnectionFlags(*cmd, &o->connection, /*default_timeout_seconds=*/5);
  cmd->add_option("--service", o->service,
                  "\"\" = liveness (the default), tessera.v1.Inference = readiness");
  cmd->callback([o, exit_code] { *exit_code = RunHealth(*o); });
}

}  // namespace tessera
