#include "server/http/openai_routes.h"

#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/http/openai_generation.h"
#include "server/openai/chat.h"
#include "server/openai/completions.h"
#include "server/openai/gateway_headers.h"
#include "server/openai/json_body.h"
#include "server/openai/lora_requests.h"
#include "server/openai/models.h"
#include "server/openai/openai_error.h"
#include "server/openai/response_common.h"
#include "server/openai/tokenize.h"

namespace tessera {
namespace {

using Json = nlohmann::ordered_json;

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

HttpResponse Error(const openai::OpenAiError& e, const HttpHeaders& headers = {}) {
  HttpResponse r = HttpResponse::Json(e.http_status, Dump(openai::ToJson(e)));
  r.headers = headers;
  return r;
}

HttpResponse Error(const absl::Status& s, const HttpHeaders& headers = {}) {
  return Error(openai::FromStatus(s), headers);
}

// What every OpenAI route reads first: the caller, its gateway headers and the JSON body.
struct Incoming {
  EdgeCaller caller;
  openai::GatewayHeaders gateway;
  HttpHeaders echo;  // x-request-id, echoed
  Json body;
};

// The caller as the edge reads it; errors are already the HTTP answer.
absl::StatusOr<Incoming> Read(const OpenAiRoutesDeps& deps, const HttpRequest& request,
                              bool with_body, HttpResponse* refusal) {
  Incoming in;
  if (request.HasHeader("Authorization")) in.caller.authorization = request.Header("Authorization");
  absl::StatusOr<openai::GatewayHeaders> gateway = openai::ParseGatewayHeaders(request.headers);
  if (!gateway.ok()) {
    *refusal = Error(gateway.status());
    return gateway.status();
  }
  in.gateway = *std::move(gateway);
  if (!in.gateway.request_id.empty()) in.echo.emplace_back("x-request-id", in.gateway.request_id);
  in.caller.fairness_id = in.gateway.fairness_id;
  // Who calls comes before what they send: an unknown key learns nothing about the body.
  if (absl::StatusOr<Principal> p = deps.edge->Admit(in.caller); !p.ok()) {
    *refusal = Error(p.status(), in.echo);
    return p.status();
  }
  if (!with_body) return in;
  const int64_t limit = deps.edge->deps().limits.max_request_bytes;
  if (static_cast<int64_t>(request.body.size()) > limit) {
    *refusal =
        Error(openai::BodyTooLarge(static_cast<int64_t>(request.body.size()), limit), in.echo);
    return absl::InvalidArgumentError("body too large");
  }
  absl::StatusOr<Json> body = openai::ParseJsonBody(request.body);
  if (!body.ok()) {
    *refusal = Error(body.status(), in.echo);
    return body.status();
  }
  in.body = *std::move(body);
  return in;
}

// "" for the base model, else the adapter the model field names; nullopt: no such model.
std::optional<std::string> AdapterOf(const OpenAiRoutesDeps& deps, const std::string& model) {
  if (model.empty() || model == deps.served_model_name) return std::string();
  if (deps.adapters == nullptr) return std::nullopt;
  return model;
}

void ApplyTargets(const openai::GatewayHeaders& gateway, v1::GenerateRequest& request) {
  // The request's own targets (none in OpenAI bodies) stay first; the gateway's come next.
  if (gateway.ttft_ms > 0 && request.ttft_target_ms() == 0) {
    request.set_ttft_target_ms(gateway.ttft_ms);
  }
  if (gateway.tpot_ms > 0 && request.tpot_target_ms() == 0) {
    request.set_tpot_target_ms(gateway.tpot_ms);
  }
}

std::string RequestId(const Incoming& in, absl::string_view prefix) {
  if (!in.gateway.request_id.empty()) return in.gateway.request_id;
  return openai::NewResponseId(std::string_view(prefix.data(), prefix.size()));
}

void Completions(const OpenAiRoutesDeps& deps, const HttpRequest& request,
                 std::shared_ptr<HttpResponder> responder) {
  const absl::Time arrival = deps.edge->deps().scheduler->Now();
  HttpResponse refusal;
  absl::StatusOr<Incoming> in = Read(deps, request, true, &refusal);
  if (!in.ok()) return responder->Respond(std::move(refusal));
  absl::StatusOr<openai::CompletionCall> call = openai::ParseCompletionRequest(in->body);
  if (!call.ok()) return responder->Respond(Error(call.status(), in->echo));
  const std::optional<std::string> adapter = AdapterOf(deps, call->model);
  if (!adapter.has_value()) {
    return responder->Respond(Error(openai::ModelNotFound(call->model), in->echo));
  }
  for (v1::GenerateRequest& r : call->requests) ApplyTargets(in->gateway, r);
  const std::string id = RequestId(*in, "cmpl-");
  openai::ResponseHeader header{id, openai::UnixSecondsNow(),
                                call->model.empty() ? deps.served_model_name : call->model};
  auto generation = OpenAiGeneration::ForCompletion(
      *std::move(call), std::move(header), deps.edge->deps().tokenizer, responder, in->echo);
  generation->Start(*deps.edge, in->caller, *adapter, id, arrival);
}

void ChatCompletions(const OpenAiRoutesDeps& deps, const HttpRequest& request,
                     std::shared_ptr<HttpResponder> responder) {
  const absl::Time arrival = deps.edge->deps().scheduler->Now();
  HttpResponse refusal;
  absl::StatusOr<Incoming> in = Read(deps, request, true, &refusal);
  if (!in.ok()) return responder->Respond(std::move(refusal));
  if (deps.chat_template == nullptr) {
    return responder->Respond(
        Error(openai::InvalidParam(
                  "messages", "this model has no chat template: give one with --chat-template"),
              in->echo));
  }
  absl::StatusOr<openai::ChatCall> call =
      openai::ParseChatRequest(in->body, *deps.chat_template, deps.tool_call_style);
  if (!call.ok()) return responder->Respond(Error(call.status(), in->echo));
  const std::optional<std::string> adapter = AdapterOf(deps, call->model);
  if (!adapter.has_value()) {
    return responder->Respond(Error(openai::ModelNotFound(call->model), in->echo));
  }
  ApplyTargets(in->gateway, call->request);
  const std::string id = RequestId(*in, "chatcmpl-");
  openai::ResponseHeader header{id, openai::UnixSecondsNow(),
                                call->model.empty() ? deps.served_model_name : call->model};
  auto generation = OpenAiGeneration::ForChat(*std::move(call), std::move(header),
                                              deps.edge->deps().tokenizer, responder, in->echo);
  generation->Start(*deps.edge, in->caller, *adapter, id, arrival);
}

HttpResponse Models(const OpenAiRoutesDeps& deps, const HttpRequest& request) {
  HttpResponse refusal;
  absl::StatusOr<Incoming> in = Read(deps, request, false, &refusal);
  if (!in.ok()) return refusal;
  const absl::StatusOr<Principal> p = deps.edge->Admit(in->caller);
  openai::ModelListing listing;
  listing.served_name = deps.served_model_name;
  listing.root = deps.model_root;
  listing.max_model_len = deps.max_model_len;
  listing.created = openai::UnixSecondsNow();
  if (deps.adapters != nullptr && p.ok()) {
    for (const AdapterInfo& a : deps.adapters->List({p->tenant, p->role == Role::kAdmin})) {
      listing.adapters.push_back({a.name, a.source});
    }
  }
  HttpResponse r = HttpResponse::Json(200, Dump(openai::ModelListJson(listing)));
  r.headers = in->echo;
  return r;
}

// The adapter routes: an admin key (or no --api-keys: the anonymous admin) and LoRA.
absl::StatusOr<Incoming> ReadAdmin(const OpenAiRoutesDeps& deps, const HttpRequest& request,
                                   HttpResponse* refusal) {
  absl::StatusOr<Incoming> in = Read(deps, request, true, refusal);
  if (!in.ok()) return in;
  const absl::StatusOr<Principal> p = deps.edge->Admit(in->caller);
  if (p.ok() && p->role != Role::kAdmin) {
    *refusal = Error(
        absl::PermissionDeniedError("loading and unloading adapters needs an admin key"), in->echo);
    return absl::PermissionDeniedError("");
  }
  if (deps.adapters == nullptr) {
    *refusal = Error(absl::FailedPreconditionError(
                         "this daemon serves no LoRA adapters (its engine has no adapter slots)"),
                     in->echo);
    return absl::FailedPreconditionError("");
  }
  return in;
}

HttpResponse LoadLora(const OpenAiRoutesDeps& deps, const HttpRequest& request) {
  HttpResponse refusal;
  absl::StatusOr<Incoming> in = ReadAdmin(deps, request, &refusal);
  if (!in.ok()) return refusal;
  absl::StatusOr<openai::LoadLoraCall> call = openai::ParseLoadLoraRequest(in->body);
  if (!call.ok()) return Error(call.status(), in->echo);
  absl::StatusOr<AdapterInfo> info =
      deps.adapters->Load({call->lora_name, call->lora_path, /*owner=*/""});
  if (!info.ok()) return Error(info.status(), in->echo);
  HttpResponse r = HttpResponse::Text(200, openai::LoadLoraSuccessText(call->lora_name));
  r.headers = in->echo;
  return r;
}

HttpResponse UnloadLora(const OpenAiRoutesDeps& deps, const HttpRequest& request) {
  HttpResponse refusal;
  absl::StatusOr<Incoming> in = ReadAdmin(deps, request, &refusal);
  if (!in.ok()) return refusal;
  absl::StatusOr<openai::UnloadLoraCall> call = openai::ParseUnloadLoraRequest(in->body);
  if (!call.ok()) return Error(call.status(), in->echo);
  const absl::StatusOr<Principal> p = deps.edge->Admit(in->caller);
  AdapterKey key;
  key.name = call->lora_name;
  if (absl::Status s =
          deps.adapters->Unload({p.ok() ? p->tenant : "", true}, key, UnloadMode::kRefuseIfInUse);
      !s.ok()) {
    return Error(openai::FromStatus(s, absl::IsNotFound(s) ? "lora_name" : ""), in->echo);
  }
  HttpResponse r = HttpResponse::Text(200, openai::UnloadLoraSuccessText(call->lora_name));
  r.headers = in->echo;
  return r;
}

HttpResponse Tokenize(const OpenAiRoutesDeps& deps, const HttpRequest& request) {
  HttpResponse refusal;
  absl::StatusOr<Incoming> in = Read(deps, request, true, &refusal);
  if (!in.ok()) return refusal;
  const Tokenizer* tokenizer = deps.edge->deps().tokenizer;
  if (tokenizer == nullptr) {
    return Error(absl::FailedPreconditionError("this model has no tokenizer (tokenizer.json)"),
                 in->echo);
  }
  absl::StatusOr<openai::TokenizeCall> call =
      openai::ParseTokenizeRequest(in->body, deps.chat_template);
  if (!call.ok()) return Error(call.status(), in->echo);
  if (!AdapterOf(deps, call->model).has_value()) {
    return Error(openai::ModelNotFound(call->model), in->echo);
  }
  absl::StatusOr<std::vector<int32_t>> ids =
      tokenizer->Encode(call->text, call->add_special_tokens);
  if (!ids.ok())
    return Error(openai::InvalidParam("prompt", std::string(ids.status().message())), in->echo);
  std::optional<std::vector<std::string>> strs;
  if (call->return_token_strs) {
    strs.emplace();
    for (int32_t id : *ids) {
      absl::StatusOr<std::string> piece = tokenizer->Decode({&id, 1}, false);
      strs->push_back(piece.ok() ? *std::move(piece) : "");
    }
  }
  HttpResponse r =
      HttpResponse::Json(200, Dump(openai::TokenizeResponseJson(*ids, deps.max_model_len, strs)));
  r.headers = in->echo;
  return r;
}

HttpResponse Detokenize(const OpenAiRoutesDeps& deps, const HttpRequest& request) {
  HttpResponse refusal;
  absl::StatusOr<Incoming> in = Read(deps, request, true, &refusal);
  if (!in.ok()) return refusal;
  const Tokenizer* tokenizer = deps.edge->deps().tokenizer;
  if (tokenizer == nullptr) {
    return Error(absl::FailedPreconditionError("this model has no tokenizer (tokenizer.json)"),
                 in->echo);
  }
  absl::StatusOr<openai::DetokenizeCall> call = openai::ParseDetokenizeRequest(in->body);
  if (!call.ok()) return Error(call.status(), in->echo);
  if (!AdapterOf(deps, call->model).has_value()) {
    return Error(openai::ModelNotFound(call->model), in->echo);
  }
  absl::StatusOr<std::string> text = tokenizer->Decode(call->tokens, false);
  if (!text.ok())
    return Error(openai::InvalidParam("tokens", std::string(text.status().message())), in->echo);
  HttpResponse r = HttpResponse::Json(200, Dump(openai::DetokenizeResponseJson(*text)));
  r.headers = in->echo;
  return r;
}

}  // namespace

void AddOpenAiRoutes(const OpenAiRoutesDeps& deps, HttpRouter& router) {
  router.AddAsync("POST", "/v1/completions",
                  [deps](const HttpRequest& r, std::shared_ptr<HttpResponder> responder) {
                    Completions(deps, r, std::move(responder));
                  });
  router.AddAsync("POST", "/v1/chat/completions",
                  [deps](const HttpRequest& r, std::shared_ptr<HttpResponder> responder) {
                    ChatCompletions(deps, r, std::move(responder));
                  });
  router.Add("GET", "/v1/models", [deps](const HttpRequest& r) { return Models(deps, r); });
  router.Add("POST", "/v1/load_lora_adapter",
             [deps](const HttpRequest& r) { return LoadLora(deps, r); });
  router.Add("POST", "/v1/unload_lora_adapter",
             [deps](const HttpRequest& r) { return UnloadLora(deps, r); });
  router.Add("POST", "/tokenize", [deps](const HttpRequest& r) { return Tokenize(deps, r); });
  router.Add("POST", "/detokenize", [deps](const HttpRequest& r) { return Detokenize(deps, r); });
}

}  // namespace tessera
