#include "client/connection_flags.h"

#include <fstream>
#include <iostream>
#include <sstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tessera {

void AddConnectionFlags(CLI::App& cmd, ConnectionFlags* flags, double default_timeout_seconds) {
  flags->timeout_seconds = default_timeout_seconds;
  cmd.add_option("--server", flags->server, "tesserad address, HOST:PORT")->required();
  cmd.add_option("--api-key", flags->api_key, "API key, sent as a bearer token")
      ->envname("TESSERA_API_KEY");
  cmd.add_flag("--tls", flags->tls, "Connect with TLS");
  cmd.add_option("--tls-ca", flags->tls_ca,
                 "PEM file of the CA certificates to trust (implies --tls)")
      ->check(CLI::ExistingFile);
  cmd.add_option("--tls-server-name", flags->tls_server_name,
                 "Name to check the server's certificate against (implies --tls)");
  cmd.add_option("--timeout", flags->timeout_seconds, "Deadline of the call in seconds, 0 = none")
      ->check([](const std::string& value) -> std::string {
        double seconds;
        return absl::SimpleAtod(value, &seconds) && seconds >= 0 ? "" : "must be seconds >= 0";
      })
      ->capture_default_str();
}

absl::StatusOr<std::unique_ptr<Client>> ConnectFromFlags(const ConnectionFlags& flags) {
  ClientOptions options;
  options.target = flags.server;
  options.api_key = flags.api_key;
  options.tls = flags.tls || !flags.tls_ca.empty() || !flags.tls_server_name.empty();
  options.tls_server_name = flags.tls_server_name;
  if (!flags.tls_ca.empty()) {
    std::ifstream in(flags.tls_ca);
    std::stringstream pem;
    pem << in.rdbuf();
    if (!in || pem.str().empty()) {
      return absl::NotFoundError(absl::StrCat("--tls-ca ", flags.tls_ca, ": cannot read it"));
    }
    options.tls_root_certs_pem = pem.str();
  }
  if (flags.timeout_seconds > 0) options.default_timeout = absl::Seconds(flags.timeout_seconds);
  return Client::Create(std::move(options));
}

int ReportError(std::string_view command, const absl::Status& status) {
  std::cerr << "tessera " << command << ": " << absl::StatusCodeToString(status.code()) << ": "
            << status.message() << "\n";
  const bool bad_input =
      absl::IsInvalidArgument(status) || absl::IsOutOfRange(status) || absl::IsNotFound(status);
  return bad_input ? 2 : 1;
}

}  // namespace tessera
