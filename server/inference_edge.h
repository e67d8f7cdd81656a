// The edge every front end (gRPC Inference, the HTTP OpenAI routes) passes a generation through:
// who calls (API key or gateway fairness id -> tenant), whether the daemon takes it (drain,
// tenant limits, token quotas), conversion and validation of the tessera.v1.GenerateRequest, the
// adapter lease, and the bookkeeping when the request leaves the scheduler (slot, quota refund,
// counters, request log). The transports only carry bytes and map statuses to their own codes.
//
// Refusals, in the order they are checked: draining -> UNAVAILABLE; missing or unknown key ->
// UNAUTHENTICATED; bad request -> INVALID_ARGUMENT naming the field; unknown adapter -> NOT_FOUND;
// tenant at its in-flight limit, quota or the scheduler's queue full -> RESOURCE_EXHAUSTED. A
// request naming an adapter holds a lease on its current version until it finishes; an adapter
// not yet loaded is loaded from --adapter-dir on first use, on the calling thread.
//
// Thread-safe; everything InferenceServiceDeps points to must outlive it.
#ifndef TESSERA_SERVER_INFERENCE_EDGE_H_
#define TESSERA_SERVER_INFERENCE_EDGE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "adapters/adapter_registry.h"
#include "scheduler/request_sink.h"
#include "scheduler/scheduler.h"
#include "scheduler/token_rate_limiter.h"
#include "server/api_keys.h"
#include "server/authenticator.h"
#include "server/edge_counters.h"
#include "server/request_convert.h"
#include "server/request_targets.h"
#include "server/tenant_limiter.h"
#include "tessera/v1/inference.pb.h"
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
  bool log_requests = false;               // a log line per finished request (request_log.h)
  v1::ModelInfoResponse model_info;
};

// Who sent a call, as its transport tells it.
struct EdgeCaller {
  std::optional<absl::string_view> authorization;  // nullopt: none sent
  // The gateway's fairness key (x-llm-d-inference-fairness-id): the tenant when no API key
  // names one (the daemon runs without --api-keys). Empty: none.
  std::string fairness_id;
  std::optional<absl::Time> deadline;  // the call's, if it has one
};

class InferenceEdge {
 public:
  explicit InferenceEdge(InferenceServiceDeps deps);

  // The caller, or why the call may not proceed (UNAVAILABLE while draining, UNAUTHENTICATED).
  absl::StatusOr<Principal> Admit(const EdgeCaller& caller) const;

  // A fresh request id ("gen-<random>-<n>") for requests that bring none.
  std::string NewRequestId();

  // Builds the transport's sink for the scheduler's id of the request (what Scheduler::Cancel
  // takes).
  using SinkFactory = std::function<std::shared_ptr<RequestSink>(const std::string& internal_id)>;

  // Admits `request` and submits it to the scheduler with the sink `make_sink` returns (called
  // at most once, only once nothing but the submission itself can refuse the request). Returns
  // the scheduler's id of the request. `*tenant` is set once the caller is known. The transport's
  // sink sees every update after the edge's bookkeeping ran on the final one.
  absl::StatusOr<std::string> Generate(const EdgeCaller& caller, const v1::GenerateRequest& request,
                                       const std::string& client_id, absl::Time arrival,
                                       const SinkFactory& make_sink);

  const InferenceServiceDeps& deps() const { return deps_; }

 private:
  struct Admission {
    ValidatedRequest request;  // id: "<tenant>/<client id>"
    TenantLimiter::Slot slot;
    int64_t reserved_tokens = 0;  // taken from the tenant's tokens_per_minute
  };
  // Everything a Generate call must pass before it reaches the scheduler.
  absl::StatusOr<Admission> AdmitGenerate(const EdgeCaller& caller,
                                          const v1::GenerateRequest& request,
                                          const std::string& client_id, absl::Time arrival,
                                          std::string* tenant);
  // A lease on the adapter's current version for the tenant, as the scheduler's AdapterRef.
  absl::StatusOr<std::shared_ptr<const AdapterRef>> AcquireAdapter(const std::string& name,
                                                                   const std::string& tenant);

  InferenceServiceDeps deps_;
  const uint64_t id_prefix_;  // random per process, so generated ids do not repeat across restarts
  std::atomic<uint64_t> next_id_{0};
};

}  // namespace tessera

#endif  // TESSERA_SERVER_INFERENCE_EDGE_H_
