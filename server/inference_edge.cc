#include "server/inference_edge.h"

#include <algorithm>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "adapters/adapter_name.h"
#include "server/request_log.h"
#include "spdlog/spdlog.h"

namespace tessera {
namespace {

uint64_t RandomPrefix() {
  absl::BitGen gen;
  return absl::Uniform<uint64_t>(gen);
}

// Runs the edge's bookkeeping on the final update, then hands every update to the transport.
class AccountingSink final : public RequestSink {
 public:
  using OnFinal = std::function<void(const RequestUpdate&)>;
  AccountingSink(std::shared_ptr<RequestSink> transport, OnFinal on_final)
      : transport_(std::move(transport)), on_final_(std::move(on_final)) {}

  void Push(RequestUpdate update) override {
    if (update.finished && on_final_) std::exchange(on_final_, nullptr)(update);
    transport_->Push(std::move(update));
  }

 private:
  std::shared_ptr<RequestSink> transport_;
  OnFinal on_final_;  // scheduler thread only
};

}  // namespace

InferenceEdge::InferenceEdge(InferenceServiceDeps deps)
    : deps_(std::move(deps)), id_prefix_(RandomPrefix()) {}

std::string InferenceEdge::NewRequestId() {
  return absl::StrCat("gen-", absl::Hex(id_prefix_, absl::kZeroPad16), "-",
                      next_id_.fetch_add(1, std::memory_order_relaxed));
}

absl::StatusOr<Principal> InferenceEdge::Admit(const EdgeCaller& caller) const {
  if (deps_.draining->load(std::memory_order_acquire)) {
    return absl::UnavailableError("the server is draining: retry on another replica");
  }
  absl::StatusOr<Principal> principal = deps_.authenticator->Authenticate(caller.authorization);
  if (principal.ok() && !deps_.authenticator->enabled() && !caller.fairness_id.empty()) {
    principal->tenant = caller.fairness_id;  // no key names a tenant: the gateway's key does
  }
  return principal;
}

absl::StatusOr<InferenceEdge::Admission> InferenceEdge::AdmitGenerate(
    const EdgeCaller& caller, const v1::GenerateRequest& request, const std::string& client_id,
    absl::Time arrival, std::string* tenant) {
  absl::StatusOr<Principal> principal = Admit(caller);
  if (!principal.ok()) return principal.status();
  *tenant = principal->tenant;
  absl::StatusOr<GenerateRequest> native =
      ToSchedulerRequest(request, deps_.tokenizer, deps_.limits, deps_.generation_defaults);
  if (!native.ok()) return native.status();
  native->id = client_id;
  native->tenant = *tenant;
  native->arrival = arrival;
  const TenantPolicy* policy = nullptr;
  if (deps_.tenant_policies != nullptr) {
    if (auto it = deps_.tenant_policies->find(*tenant); it != deps_.tenant_policies->end()) {
      policy = &it->second;
    }
  }
  ApplySloTargets(policy, deps_.slo_defaults, *native);
  if (caller.deadline.has_value()) native->timeout = *caller.deadline - arrival;
  if (native->timeout.has_value() && arrival + *native->timeout <= deps_.scheduler->Now()) {
    return absl::DeadlineExceededError("the call's deadline passed before it was queued");
  }
  absl::StatusOr<TenantLimiter::Slot> slot = deps_.tenant_limiter->Acquire(*tenant);
  if (!slot.ok()) return slot.status();
  // After the tenant's limit: a tenant over it cannot make the daemon load adapters.
  if (!request.adapter().empty()) {
    absl::StatusOr<std::shared_ptr<const AdapterRef>> adapter =
        AcquireAdapter(request.adapter(), *tenant);
    if (!adapter.ok()) return adapter.status();
    native->adapter = *std::move(adapter);
  }
  // Checked once, here, with the client's id in the errors; Submit takes the proof.
  absl::StatusOr<ValidatedRequest> valid = deps_.scheduler->Check(*std::move(native));
  if (!valid.ok()) return valid.status();
  // Last: nothing after this can refuse the request, so a reservation is never left behind.
  int64_t reserved = 0;
  if (deps_.token_limiter != nullptr && deps_.token_limiter->Limit(*tenant) > 0) {
    reserved = TokenReservation(**valid);
    if (absl::Status s = deps_.token_limiter->TryAcquire(*tenant, reserved, deps_.scheduler->Now());
        !s.ok()) {
      return s;
    }
  }
  // The scheduler keys requests by id: the tenant in it keeps tenants' ids apart.
  if (absl::Status s = valid->set_id(absl::StrCat(*tenant, "/", client_id)); !s.ok()) {
    if (reserved > 0) deps_.token_limiter->Refund(*tenant, reserved);
    return s;
  }
  return Admission{*std::move(valid), *std::move(slot), reserved};
}

absl::StatusOr<std::shared_ptr<const AdapterRef>> InferenceEdge::AcquireAdapter(
    const std::string& name, const std::string& tenant) {
  if (absl::Status s = ValidateAdapterName(name); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("adapter: ", s.message()));
  }
  if (deps_.adapters == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("adapter \"", name, "\": this daemon's engine serves no LoRA adapters"));
  }
  absl::StatusOr<AdapterLease> lease = deps_.adapters->Acquire(name, tenant);
  if (!lease.ok()) return lease.status();
  auto ref = std::make_shared<AdapterRef>();
  ref->name = name;
  ref->weights = lease->shared_weights();
  ref->version = lease->version();  // the prefix cache never mixes versions
  // The request pins this version until it leaves the scheduler.
  ref->pin = std::make_shared<AdapterLease>(*std::move(lease));
  return ref;
}

absl::StatusOr<std::string> InferenceEdge::Generate(const EdgeCaller& caller,
                                                    const v1::GenerateRequest& request,
                                                    const std::string& client_id,
                                                    absl::Time arrival,
                                                    const SinkFactory& make_sink) {
  std::string tenant;
  absl::StatusOr<Admission> admission = AdmitGenerate(caller, request, client_id, arrival, &tenant);
  EdgeCounters* counters = deps_.counters;
  if (!admission.ok()) {
    counters->RecordRejected(tenant, admission.status().code());
    return admission.status();
  }
  // The slot goes back when the request leaves the scheduler, not when the stream ends.
  auto slot = std::make_shared<TenantLimiter::Slot>(std::move(admission->slot));
  std::optional<RequestLogEntry> log;
  if (deps_.log_requests) {
    log.emplace();
    log->id = client_id;
    log->tenant = tenant;
    if (admission->request->adapter != nullptr) log->adapter = admission->request->adapter->name;
  }
  TokenRateLimiter* token_limiter = deps_.token_limiter;
  const int64_t reserved = admission->reserved_tokens;
  const std::string internal_id = admission->request->id;
  auto sink = std::make_shared<AccountingSink>(
      make_sink(internal_id), [slot, counters, tenant, token_limiter, reserved,
                               log = std::move(log)](const RequestUpdate& final_update) mutable {
        slot->Release();
        const std::optional<RequestTimings>& timings = final_update.timings;
        if (reserved > 0) {
          // What the request did not use goes back (all of it when it never ran).
          const int64_t used =
              timings.has_value() ? timings->prompt_tokens + timings->generated_tokens : 0;
          token_limiter->Refund(tenant, std::max<int64_t>(0, reserved - used));
        }
        const absl::StatusCode code = final_update.status.code();
        counters->RecordFinished(tenant, code);
        if (log.has_value()) {
          log->status = code;
          log->timings = timings;
          spdlog::info("{}", FormatRequestLog(*log));
        }
      });
  absl::Status submitted = deps_.scheduler->Submit(std::move(admission->request), std::move(sink));
  if (!submitted.ok()) {
    if (absl::IsAlreadyExists(submitted)) {
      submitted = absl::AlreadyExistsError(
          absl::StrCat("request_id \"", client_id, "\" is already in flight"));
    }
    slot->Release();
    if (reserved > 0) token_limiter->Refund(tenant, reserved);
    counters->RecordSubmitRefused(tenant, submitted);
    return submitted;
  }
  counters->RecordStarted(tenant);
  return internal_id;
}

}  // namespace tessera
