// tessera::Client: the C++ SDK for a tesserad daemon (tessera.v1.Inference, tessera.v1.Admin and
// grpc.health.v1).
//
//   tessera::ClientOptions options;
//   options.target = "localhost:50051";
//   options.api_key = "...";  // sent as `authorization: Bearer ...`
//   auto client = tessera::Client::Create(options);
//   if (!client.ok()) return client.status();
//
//   tessera::v1::GenerateRequest request;
//   request.set_text("The capital of France is");
//   request.set_max_tokens(16);
//   // Streaming: the callback runs on this thread, once per message, in order.
//   absl::Status s = (*client)->Generate(request, [](const tessera::v1::GenerateResponse& m) {
//     for (const auto& d : m.samples()) std::cout << d.text() << std::flush;
//     return true;  // false cancels the call
//   });
//   // Or all at once:
//   absl::StatusOr<tessera::GenerateOutput> out = (*client)->GenerateAndCollect(request);
//
//   // LoRA adapters (tessera.v1.Admin): requests name them in GenerateRequest.adapter.
//   absl::StatusOr<tessera::v1::AdapterStatus> a = (*client)->LoadAdapter("support-bot");
//
// Errors: every call returns the server's gRPC status as an absl::Status with the same code and
// message (UNAVAILABLE when the server cannot be reached, DEADLINE_EXCEEDED past the call's
// timeout, CANCELLED when the Generate callback stopped the call). Generate also fails INTERNAL,
// at once, when the server sends a response it cannot parse (the call is cancelled) or ends the
// stream without its final message (the one carrying `usage`).
//
// Thread-safety: a Client is thread-safe; its calls may run concurrently from many threads over
// its one channel (HTTP/2 multiplexes them). Each call blocks its own thread only.
#ifndef TESSERA_CLIENT_CLIENT_H_
#define TESSERA_CLIENT_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/impl/rpc_method.h"
#include "tessera/v1/admin.grpc.pb.h"
#include "tessera/v1/inference.grpc.pb.h"

namespace tessera {

struct ClientOptions {
  std::string target;   // "host:port" (any gRPC target: "dns:///host:port", "unix:/path", ...)
  std::string api_key;  // sent as `authorization: Bearer <key>` metadata when non-empty
  bool tls = false;
  std::string tls_root_certs_pem;  // PEM contents of the roots to trust; empty = the system's
  std::string tls_server_name;     // the name checked against the certificate; empty = the host's
  // The deadline of a call that names none; infinite = no deadline.
  absl::Duration default_timeout = absl::InfiniteDuration();
};

struct CallOptions {
  // Unset = ClientOptions::default_timeout; absl::InfiniteDuration() = no deadline.
  std::optional<absl::Duration> timeout;
  // Wait for the server to come up (until the deadline) instead of failing UNAVAILABLE at once.
  bool wait_for_ready = false;
};

// One sample of a Generate call, folded from its deltas.
struct SampleOutput {
  std::string text;
  std::vector<int32_t> token_ids;
  std::vector<v1::PositionLogprobs> logprobs;  // one per token, when the request asked
  v1::FinishReason finish_reason = v1::FINISH_REASON_UNSPECIFIED;
  std::string stop_string;
  std::optional<int32_t> stop_token_id;
};

struct GenerateOutput {
  std::string request_id;
  std::vector<SampleOutput> samples;  // by index: request.n() entries (1 when unset)
  std::vector<v1::PositionLogprobs> prompt_logprobs;
  v1::Usage usage;
};

using HealthStatus = ::grpc::health::v1::HealthCheckResponse::ServingStatus;

class Client {
 public:
  // Checks the options and opens the channel; connecting happens lazily, on the first call.
  static absl::StatusOr<std::unique_ptr<Client>> Create(ClientOptions options);

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Streams a generation: `on_message` sees each response in order, on the calling thread.
  // Returning false from it cancels the call (the server stops the request) and Generate returns
  // CANCELLED. Returns OK once the server ends the stream normally, after its final message (the
  // one with `usage`); INTERNAL for a response that cannot be parsed or a stream that ends
  // without the final message.
  absl::Status Generate(const v1::GenerateRequest& request,
                        const std::function<bool(const v1::GenerateResponse&)>& on_message,
                        const CallOptions& call = {});

  // Runs Generate to the end and folds the stream into per-sample outputs.
  absl::StatusOr<GenerateOutput> GenerateAndCollect(const v1::GenerateRequest& request,
                                                    const CallOptions& call = {});

  absl::StatusOr<v1::TokenizeResponse> Tokenize(std::string_view text,
                                                bool add_special_tokens = true,
                                                const CallOptions& call = {});

  absl::StatusOr<v1::ModelInfoResponse> ModelInfo(const CallOptions& call = {});

  // grpc.health.v1 Check: "" = liveness, "tessera.v1.Inference" = readiness. A service the
  // server does not know gives NOT_FOUND.
  absl::StatusOr<HealthStatus> Health(std::string_view service = "", const CallOptions& call = {});

  // tessera.v1.Admin. LoadAdapter loads (or reloads, atomically) the adapter `name` from `path`
  // on the server, or from the daemon's --adapter-dir when `path` is empty; `owner` (admin only)
  // makes it a tenant's private adapter, empty = public. Returns its status after the load.
  absl::StatusOr<v1::AdapterStatus> LoadAdapter(std::string_view name, std::string_view path = "",
                                                std::string_view owner = "",
                                                const CallOptions& call = {});
  // Unloads (owner, name). Without `wait` the server refuses (FAILED_PRECONDITION) while
  // requests use it; with `wait` it refuses new requests and waits for those in flight, at most
  // `wait_timeout` (zero = no limit; rounded up to whole milliseconds), then DEADLINE_EXCEEDED.
  // The call's own deadline (`call`) still applies. INVALID_ARGUMENT for a negative wait_timeout.
  absl::Status UnloadAdapter(std::string_view name, std::string_view owner = "", bool wait = false,
                             absl::Duration wait_timeout = absl::ZeroDuration(),
                             const CallOptions& call = {});
  // The adapters the caller may see (an admin: all), ordered by name then owner.
  absl::StatusOr<v1::ListAdaptersResponse> ListAdapters(const CallOptions& call = {});

  // The client's channel, for callers that drive their own stubs (tessera bench-serve's
  // asynchronous calls). Such calls carry no API key or deadline unless they set them.
  const std::shared_ptr<::grpc::Channel>& channel() const { return channel_; }

 private:
  Client(ClientOptions options, std::shared_ptr<::grpc::Channel> channel);

  // A context carrying the call's deadline and the API key.
  std::unique_ptr<::grpc::ClientContext> NewContext(const CallOptions& call) const;

  const ClientOptions options_;
  const std::shared_ptr<::grpc::Channel> channel_;
  const std::unique_ptr<v1::Inference::Stub> inference_;
  // Generate with the responses as bytes: see Generate.
  const ::grpc::internal::RpcMethod raw_generate_;
  const std::unique_ptr<v1::Admin::Stub> admin_;
  const std::unique_ptr<::grpc::health::v1::Health::Stub> health_;
};

// The samples `request` asks for: n, or 1 when unset. (The server rejects n < 1.)
size_t RequestedSamples(const v1::GenerateRequest& request);

// Adds one streamed response to `out`, for callers of Generate that also want the whole result.
// INTERNAL when the server sends a sample index outside [0, num_samples).
absl::Status FoldGenerateResponse(const v1::GenerateResponse& response, size_t num_samples,
                                  GenerateOutput& out);

}  // namespace tessera

#endif  // TESSERA_CLIENT_CLIENT_H_
