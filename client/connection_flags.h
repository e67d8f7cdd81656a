// The flags every command that talks to a tesserad daemon shares: where it is, how to
// authenticate, TLS and the call's deadline; and how those commands report a failed call.
//
//   --server HOST:PORT  --api-key KEY (default: $TESSERA_API_KEY)  --tls  --tls-ca FILE
//   --tls-server-name NAME  --timeout SECONDS (0 = none)
//
// --tls-ca and --tls-server-name imply --tls.
#ifndef TESSERA_CLIENT_CONNECTION_FLAGS_H_
#define TESSERA_CLIENT_CONNECTION_FLAGS_H_

#include <memory>
#include <string>
#include <string_view>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/client.h"

namespace tessera {

struct ConnectionFlags {
  std::string server;
  std::string api_key;
  bool tls = false;
  std::string tls_ca;  // a PEM file of the roots to trust
  std::string tls_server_name;
  double timeout_seconds = 0;  // 0 = no deadline
};

// Registers the flags on `cmd`, writing into `*flags` (which must outlive the parse).
// `default_timeout_seconds` is the --timeout a command gets when the user gives none.
void AddConnectionFlags(CLI::App& cmd, ConnectionFlags* flags, double default_timeout_seconds);

// Opens a client: INVALID_ARGUMENT or NOT_FOUND (an unreadable --tls-ca) on bad flags.
absl::StatusOr<std::unique_ptr<Client>> ConnectFromFlags(const ConnectionFlags& flags);

// Prints "tessera COMMAND: CODE_NAME: message" to stderr and returns the exit code: 2 when the
// input was at fault (INVALID_ARGUMENT, OUT_OF_RANGE, NOT_FOUND: from the server, e.g. a field out
// of range or an unknown adapter, or from the flags), else 1.
int ReportError(std::string_view command, const absl::Status& status);

}  // namespace tessera

#endif  // TESSERA_CLIENT_CONNECTION_FLAGS_H_
