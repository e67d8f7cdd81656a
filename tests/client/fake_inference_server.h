// An in-process tessera.v1.Inference server for the SDK's tests, on 127.0.0.1 at a free port,
// with gRPC's default health service and a fake tessera.v1.Admin (fake_admin_service.h). It
// serves scripted answers and records what it was sent.
//
// Generate, by request_id:
//   "error": fails INVALID_ARGUMENT with kGenerateErrorMessage;
//   "hold":  sends one message, then waits for the call to be cancelled (by the client or its
//            deadline) and notifies `hold_cancelled`;
//   else:    streams `script` in order (an empty script: one final message, with `usage`),
//            then OK. A server ends a stream with its final message carrying `usage`.
// Every call fails UNAUTHENTICATED when `required_api_key` is set and the call's
// `authorization` metadata is not "Bearer <that key>".
//
// Thread-safety: the server's threads run the handlers; tests set `script` and
// `required_api_key` before calls and read the recorded fields after them.
#ifndef TESSERA_TESTS_CLIENT_FAKE_INFERENCE_SERVER_H_
#define TESSERA_TESTS_CLIENT_FAKE_INFERENCE_SERVER_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "grpcpp/grpcpp.h"
#include "tessera/v1/inference.grpc.pb.h"
#include "tests/client/fake_admin_service.h"

namespace tessera {

inline constexpr char kGenerateErrorMessage[] = "max_tokens must be in [1, 4096], got 0";

class FakeInferenceService final : public v1::Inference::Service {
 public:
  ::grpc::Status Generate(::grpc::ServerContext* context, const v1::GenerateRequest* request,
                          ::grpc::ServerWriter<v1::GenerateResponse>* writer) override;
  ::grpc::Status Tokenize(::grpc::ServerContext* context, const v1::TokenizeRequest* request,
                          v1::TokenizeResponse* response) override;
  ::grpc::Status ModelInfo(::grpc::ServerContext* context, const v1::ModelInfoRequest* request,
                           v1::ModelInfoResponse* response) override;

  // The `authorization` metadata of the last call; nullopt when it carried none.
  std::optional<std::string> last_authorization() const;
  v1::GenerateRequest last_generate_request() const;

  std::vector<v1::GenerateResponse> script;
  std::string required_api_key;
  absl::Notification hold_cancelled;

 private:
  ::grpc::Status Authorize(const ::grpc::ServerContext& context);

  mutable absl::Mutex mu_;
  std::optional<std::string> last_authorization_ ABSL_GUARDED_BY(mu_);
  v1::GenerateRequest last_generate_request_ ABSL_GUARDED_BY(mu_);
};

class FakeInferenceServer {
 public:
  explicit FakeInferenceServer(
      std::shared_ptr<::grpc::ServerCredentials> credentials = ::grpc::InsecureServerCredentials());
  ~FakeInferenceServer();

  FakeInferenceServer(const FakeInferenceServer&) = delete;
  FakeInferenceServer& operator=(const FakeInferenceServer&) = delete;

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  FakeInferenceService& service() { return service_; }
  FakeAdminService& admin() { return admin_; }
  ::grpc::HealthCheckServiceInterface& health() { return *server_->GetHealthCheckService(); }

 private:
  FakeInferenceService service_;
  FakeAdminService admin_;
  int port_ = 0;
  std::unique_ptr<::grpc::Server> server_;
};

// A loopback address where nothing listens (a port just bound and released).
std::string UnusedLoopbackAddress();

}  // namespace tessera

#endif  // TESSERA_TESTS_CLIENT_FAKE_INFERENCE_SERVER_H_
