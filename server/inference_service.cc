#include "server/inference_service.h"

#include <chrono>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "adapters/adapter_name.h"
#include "server/generate_call.h"
#include "server/grpc_status.h"
#include "server/metadata_limit.h"
#include "server/request_log.h"
#include "spdlog/spdlog.h"

namespace tessera {
namespace {

uint64_t RandomPrefix() {
  absl::BitGen gen;
  return absl::Uniform<uint64_t>(gen);
}

// The call's deadline as a timeout from `arrival`; nullopt without one.
std::optional<absl::Duration> TimeoutOf(const grpc::CallbackServerContext* context,
                                        absl::Time arrival) {
  const std::chrono::system_clock::time_point deadline = context->deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return std::nullopt;
  return absl::FromChrono(deadline) - arrival;
}

}  // namespace

InferenceService::InferenceService(InferenceServiceDeps deps)
    : deps_(std::move(deps)), id_prefix_(RandomPrefix()) {}

std::string InferenceService::NewRequestId() {
  return absl::StrCat("gen-", absl::Hex(id_prefix_, absl::kZeroPad16), "-",
                      next_id_.fetch_add(1, std::memory_order_relaxed));
}

absl::StatusOr<Principal> InferenceService::Admit(
    const grpc::CallbackServerContext* context) const {
  if (deps_.draining->load(std::memory_order_acquire)) {
    return absl::UnavailableError("the server is draining: retry on another replica");
  }
  if (absl::Status s = CheckMetadataSize(*context, deps_.limits.max_metadata_bytes); !s.ok()) {
    return s;
  }
  const auto& metadata = context->client_metadata();
  std::optional<absl::string_view> authorization;
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    authorization = absl::string_view(it->second.data(), it->second.size());
  }
  return deps_.authenticator->Authenticate(authorization);
}

absl::StatusOr<InferenceService::Admission> InferenceService::AdmitGenerate(
    const grpc::CallbackServerContext* context, const v1::GenerateRequest& request,
    const std::string& client_id, absl::Time arrival, std::string* tenant) {
  absl::StatusOr<Principal> principal = Admit(context);
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
  native->timeout = TimeoutOf(context, arrival);
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

absl::StatusOr<std::shared_ptr<const AdapterRef>> InferenceService::AcquireAdapter(
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

grpc::ServerWriteReactor<v1::GenerateResponse>* InferenceService::Generate(
    grpc::CallbackServerContext* context, const v1::GenerateRequest* request) {
  // Latencies count from here, before authentication and tokenization, as a client sees them.
  const absl::Time arrival = deps_.scheduler->Now();
  const std::string client_id =
      request->request_id().empty() ? NewRequestId() : request->request_id();
  std::string tenant;
  absl::StatusOr<Admission> admission =
      AdmitGenerate(context, *request, client_id, arrival, &tenant);
  EdgeCounters* counters = deps_.counters;
  if (!admission.ok()) {
    counters->RecordRejected(tenant, admission.status().code());
    auto* call = new GenerateCall(deps_.scheduler, "", client_id, nullptr, nullptr);
    call->Fail(ToGrpcStatus(admission.status()));
    return call;
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
  auto* call = new GenerateCall(
      deps_.scheduler, admission->request->id, client_id, deps_.tokenizer,
      [slot, counters, tenant, token_limiter, reserved, log = std::move(log)](
          const grpc::Status& status, const std::optional<RequestTimings>& timings) mutable {
        slot->Release();
        if (reserved > 0) {
          // What the request did not use goes back (all of it when it never ran).
          const int64_t used =
              timings.has_value() ? timings->prompt_tokens + timings->generated_tokens : 0;
          token_limiter->Refund(tenant, std::max<int64_t>(0, reserved - used));
        }
        const auto code = static_cast<absl::StatusCode>(status.error_code());
        counters->RecordFinished(tenant, code);
        if (log.has_value()) {
          log->status = code;
          log->timings = timings;
          spdlog::info("{}", FormatRequestLog(*log));
        }
      });
  absl::Status submitted = deps_.scheduler->Submit(std::move(admission->request), call->sink());
  if (!submitted.ok()) {
    if (absl::IsAlreadyExists(submitted)) {
      submitted = absl::AlreadyExistsError(
          absl::StrCat("request_id \"", client_id, "\" is already in flight"));
    }
    slot->Release();
    if (reserved > 0) token_limiter->Refund(tenant, reserved);
    counters->RecordSubmitRefused(tenant, submitted);
    call->Fail(ToGrpcStatus(submitted));
    return call;
  }
  counters->RecordStarted(tenant);
  return call;
}

grpc::ServerUnaryReactor* InferenceService::Tokenize(grpc::CallbackServerContext* context,
                                                     const v1::TokenizeRequest* request,
                                                     v1::TokenizeResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = Admit(context).status();
  if (status.ok() && deps_.tokenizer == nullptr) {
    status = absl::FailedPreconditionError("this model has no tokenizer (tokenizer.json)");
  }
  if (status.ok() &&
      static_cast<int64_t>(request->text().size()) > deps_.limits.max_request_bytes) {
    status = absl::InvalidArgumentError(absl::StrCat("text is ", request->text().size(),
                                                     " bytes, over the limit of ",
                                                     deps_.limits.max_request_bytes));
  }
  if (status.ok()) {
    const bool add_special =
        request->has_add_special_tokens() ? request->add_special_tokens() : true;
    absl::StatusOr<std::vector<int32_t>> ids =
        deps_.tokenizer->Encode(request->text(), add_special);
    if (!ids.ok()) {
      status = absl::InvalidArgumentError(absl::StrCat("text: ", ids.status().message()));
    } else {
      for (int32_t id : *ids) {
        response->add_token_ids(id);
        absl::StatusOr<std::string> piece = deps_.tokenizer->Decode({&id, 1}, false);
        response->add_tokens(piece.ok() ? *std::move(piece) : "");
      }
    }
  }
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* InferenceService::ModelInfo(grpc::CallbackServerContext* context,
                                                      const v1::ModelInfoRequest* /*request*/,
                                                      v1::ModelInfoResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = Admit(context).status();
  if (status.ok()) *response = deps_.model_info;
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace tessera
