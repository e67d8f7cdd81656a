// tessera.v1.Inference on the gRPC callback API: authenticates each call, converts and validates
// the request at the edge, and hands Generate calls to the scheduler through a GenerateCall.
//
// Refusals, in the order they are checked: draining -> UNAVAILABLE; missing or unknown key ->
// UNAUTHENTICATED; bad request -> INVALID_ARGUMENT naming the field; unknown adapter -> NOT_FOUND;
// tenant at its in-flight limit or the scheduler's queue full -> RESOURCE_EXHAUSTED. A request
// naming an adapter holds a lease on its current version until it finishes; an adapter not yet
// loaded is loaded from --adapter-dir on first use, on the calling gRPC thread.
//
// Thread-safe; everything it points to must outlive the gRPC server.
#ifndef TESSERA_SERVER_INFERENCE_SERVICE_H_
#define TESSERA_SERVER_INFERENCE_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "adapters/adapter_registry.h"
#include "scheduler/scheduler.h"
#include "server/authenticator.h"
#include "server/edge_counters.h"
#include "server/request_convert.h"
#include "server/request_targets.h"
#include "server/tenant_limiter.h"
#include "tessera/v1/inference.grpc.pb.h"
#include "text/tokenizer/tokenizer.h"

namespace tessera {

struct InferenceServiceDeps {
  Scheduler* scheduler = nullptr;
  const Tokenizer* tokenizer = nullptr;  // null: token-id prompts only
  const Authenticator* authenticator = nullptr;
  TenantLimiter* tenant_limiter = nullptr;
  // Tenants' targets (null: none) and tokens-per-minute limits (null: none).
  const std::map<std::string, TenantPolicy>* tenant_policies = nullptr;
  TokenRateLimiter* token_limiter = nullptr;
  SloDefaults slo_defaults;
  EdgeCounters* counters = nullptr;
  AdapterRegistry* adapters = nullptr;  // null: no LoRA (naming an adapter: FAILED_PRECONDITION)
  const std::atomic<bool>* draining = nullptr;
  RequestLimits limits;
  GenerationDefaults generation_defaults;  // for the sampling fields a request leaves unset
  bool log_requests = false;               // a log line per finished Generate call (request_log.h)
  v1::ModelInfoResponse model_info;
};

class InferenceService final : public v1::Inference::CallbackService {
 public:
  explicit InferenceService(InferenceServiceDeps deps);

  grpc::ServerWriteReactor<v1::GenerateResponse>* Generate(
      grpc::CallbackServerContext* context, const v1::GenerateRequest* request) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* context,
                                     const v1::TokenizeRequest* request,
                                     v1::TokenizeResponse* response) override;
  grpc::ServerUnaryReactor* ModelInfo(grpc::CallbackServerContext* context,
                                      const v1::ModelInfoRequest* request,
                                      v1::ModelInfoResponse* response) override;

 private:
  // The caller, or why the call may not proceed (UNAVAILABLE while draining, UNAUTHENTICATED).
  absl::StatusOr<Principal> Admit(const grpc::CallbackServerContext* context) const;
  std::string NewRequestId();
  // A lease on the adapter's current version for the tenant, as the scheduler's AdapterRef.
  absl::StatusOr<std::shared_ptr<const AdapterRef>> AcquireAdapter(const std::string& name,
                                                                   const std::string& tenant);
  struct Admission {
    ValidatedRequest request;  // id: "<tenant>/<client id>"
    TenantLimiter::Slot slot;
    int64_t reserved_tokens = 0;  // taken from the tenant's tokens_per_minute
  };
  // Everything a Generate call must pass before it reaches the scheduler. `*tenant` is set once
  // the caller is known (for the rejection counters).
  absl::StatusOr<Admission> AdmitGenerate(const grpc::CallbackServerContext* context,
                                          const v1::GenerateRequest& request,
                                          const std::string& client_id, absl::Time arrival,
                                          std::string* tenant);

  InferenceServiceDeps deps_;
  const uint64_t id_prefix_;  // random per process, so generated ids do not repeat across restarts
  std::atomic<uint64_t> next_id_{0};
};

}  // namespace tessera

#endif  // TESSERA_SERVER_INFERENCE_SERVICE_H_
