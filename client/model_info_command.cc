#include "client/model_info_command.h"

#include <iostream>
#include <memory>
#include <string>

#include "google/protobuf/util/json_util.h"

namespace tessera {

int RunModelInfo(const ConnectionFlags& connection) {
  absl::StatusOr<std::unique_ptr<Client>> client = ConnectFromFlags(connection);
  if (!client.ok()) return ReportError("model-info", client.status());
  absl::StatusOr<v1::ModelInfoResponse> info = (*client)->ModelInfo();
  if (!info.ok()) return ReportError("model-info", info.status());
  google::protobuf::util::JsonPrintOptions print;
  print.add_whitespace = true;
  print.always_print_primitive_fields = true;  // a zero is information here
  print.preserve_proto_field_names = true;
  std::string json;
  if (auto s = google::protobuf::util::MessageToJsonString(*info, &json, print); !s.ok()) {
    return ReportError("model-info", absl::InternalError(std::string(s.message())));
  }
  std::cout << json;
  std::cout.flush();
  return std::cout.good() ? 0 : 1;
}

void AddModelInfoCommand(CLI::App& app, int* exit_code) {
  auto connection = std::make_shared<ConnectionFlags>();
  CLI::App* cmd = app.add_subcommand("model-info", "Describe the model a tesserad serves");
  AddConnectionFlags(*cmd, connection.get(), /*default_timeout_seconds=*/30);
  cmd->callback([connection, exit_code] { *exit_code = RunModelInfo(*connection); });
}

}  // namespace tessera
