// Clients of a daemon a test started: the SDK with an API key, a raw Admin stub (the SDK's admin
// calls are the CLI's business), and a gRPC call that carries an API key.
#ifndef TESSERA_TESTS_SERVER_DAEMON_CLIENTS_H_
#define TESSERA_TESTS_SERVER_DAEMON_CLIENTS_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "server/daemon.h"
#include "tessera/v1/admin.grpc.pb.h"

namespace tessera::daemon_test {

inline std::unique_ptr<Client> Connect(const Daemon& daemon, const std::string& key,
                                       absl::Duration timeout) {
  ClientOptions co;
  co.target = absl::StrCat("127.0.0.1:", daemon.grpc_port());
  co.api_key = key;
  co.default_timeout = timeout;
  return *Client::Create(co);
}

inline std::unique_ptr<v1::Admin::Stub> AdminStub(const Daemon& daemon) {
  return v1::Admin::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", daemon.grpc_port()),
                                                grpc::InsecureChannelCredentials()));
}

// `method(&context)` with `key` as a bearer token.
inline grpc::Status CallWithKey(const std::string& key, auto&& method) {
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + key);
  return method(&context);
}

}  // namespace tessera::daemon_test

#endif  // TESSERA_TESTS_SERVER_DAEMON_CLIENTS_H_
