#include "server/inference_service.h"

#include <chrono>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/generate_call.h"
#include "server/grpc_status.h"
#include "server/metadata_limit.h"

namespace tessera {

EdgeCaller InferenceService::CallerOf(const grpc::CallbackServerContext* context) {
  EdgeCaller caller;
  const auto& metadata = context->client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    caller.authorization = absl::string_view(it->second.data(), it->second.size());
  }
  const std::chrono::system_clock::time_point deadline = context->deadline();
  if (deadline != std::chrono::system_clock::time_point::max()) {
    caller.deadline = absl::FromChrono(deadline);
  }
  return caller;
}

absl::StatusOr<Principal> InferenceService::Admit(
    const grpc::CallbackServerContext* context) const {
  if (absl::Status s = CheckMetadataSize(*context, edge_->deps().limits.max_metadata_bytes);
      !s.ok()) {
    return s;
  }
  return edge_->Admit(CallerOf(context));
}

grpc::ServerWriteReactor<v1::GenerateResponse>* InferenceService::Generate(
    grpc::CallbackServerContext* context, const v1::GenerateRequest* request) {
  const InferenceServiceDeps& deps = edge_->deps();
  // Latencies count from here, before authentication and tokenization, as a client sees them.
  const absl::Time arrival = deps.scheduler->Now();
  const std::string client_id =
      request->request_id().empty() ? edge_->NewRequestId() : request->request_id();
  GenerateCall* call = nullptr;
  absl::StatusOr<std::string> started;
  if (absl::Status s = CheckMetadataSize(*context, deps.limits.max_metadata_bytes); !s.ok()) {
    deps.counters->RecordRejected("", s.code());
    started = s;
  } else {
    started = edge_->Generate(
        CallerOf(context), *request, client_id, arrival, [&](const std::string& internal_id) {
          call = new GenerateCall(deps.scheduler, internal_id, client_id, deps.tokenizer, nullptr);
          return call->sink();
        });
  }
  if (!started.ok()) {
    if (call == nullptr) call = new GenerateCall(deps.scheduler, "", client_id, nullptr, nullptr);
    call->Fail(ToGrpcStatus(started.status()));
  }
  return call;
}

grpc::ServerUnaryReactor* InferenceService::Tokenize(grpc::CallbackServerContext* context,
                                                     const v1::TokenizeRequest* request,
                                                     v1::TokenizeResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = Admit(context).status();
  if (status.ok() && edge_->deps().tokenizer == nullptr) {
    status = absl::FailedPreconditionError("this model has no tokenizer (tokenizer.json)");
  }
  if (status.ok() &&
      static_cast<int64_t>(request->text().size()) > edge_->deps().limits.max_request_bytes) {
    status = absl::InvalidArgumentError(absl::StrCat("text is ", request->text().size(),
                                                     " bytes, over the limit of ",
                                                     edge_->deps().limits.max_request_bytes));
  }
  if (status.ok()) {
    const bool add_special =
        request->has_add_special_tokens() ? request->add_special_tokens() : true;
    absl::StatusOr<std::vector<int32_t>> ids =
        edge_->deps().tokenizer->Encode(request->text(), add_special);
    if (!ids.ok()) {
      status = absl::InvalidArgumentError(absl::StrCat("text: ", ids.status().message()));
    } else {
      for (int32_t id : *ids) {
        response->add_token_ids(id);
        absl::StatusOr<std::string> piece = edge_->deps().tokenizer->Decode({&id, 1}, false);
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
  if (status.ok()) *response = edge_->deps().model_info;
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace tessera
