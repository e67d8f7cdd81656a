#include "server/openai/openai_error.h"

#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace tessera::openai {
namespace {

// The payload that carries the OpenAI param through an absl::Status.
constexpr std::string_view kParamPayload = "tessera.openai/param";

nlohmann::json NullIfEmpty(const std::string& s) {
  return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
}

}  // namespace

nlohmann::json ToJson(const OpenAiError& error) {
  nlohmann::json body = nlohmann::json::object();
  body["message"] = error.message;
  body["type"] = error.type;
  body["param"] = NullIfEmpty(error.param);
  body["code"] = NullIfEmpty(error.code);
  return nlohmann::json{{"error", std::move(body)}};
}

absl::Status InvalidParam(std::string_view param, std::string_view message, absl::StatusCode code) {
  absl::Status status(code, std::string(message));
  if (!param.empty()) status.SetPayload(std::string(kParamPayload), absl::Cord(std::string(param)));
  return status;
}

std::string ParamOf(const absl::Status& status) {
  absl::optional<absl::Cord> param = status.GetPayload(std::string(kParamPayload));
  return param.has_value() ? std::string(*param) : std::string();
}

OpenAiError FromStatus(const absl::Status& status, std::string param) {
  OpenAiError e;
  e.message = std::string(status.message());
  e.param = param.empty() ? ParamOf(status) : std::move(param);
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
      e.http_status = 400;
      e.type = "invalid_request_error";
      break;
    case absl::StatusCode::kUnauthenticated:
      e.http_status = 401;
      e.type = "authentication_error";
      e.code = "invalid_api_key";
      break;
    case absl::StatusCode::kPermissionDenied:
      e.http_status = 403;
      e.type = "permission_error";
      break;
    case absl::StatusCode::kNotFound:
      e.http_status = 404;
      if (e.param == "model") {
        // OpenAI's own answer for an unknown model.
        e.type = "invalid_request_error";
        e.code = "model_not_found";
      } else {
        e.type = "not_found_error";
      }
      break;
    case absl::StatusCode::kResourceExhausted:
      e.http_status = 429;
      e.type = "rate_limit_error";
      break;
    case absl::StatusCode::kUnavailable:
      e.http_status = 503;
      e.type = "service_unavailable_error";
      break;
    case absl::StatusCode::kDeadlineExceeded:
      e.http_status = 504;
      e.type = "timeout_error";
      break;
    case absl::StatusCode::kCancelled:
      e.http_status = 499;  // nginx's "client closed request": nobody reads it
      e.type = "cancelled_error";
      break;
    default:
      e.http_status = 500;
      e.type = "server_error";
      break;
  }
  if (e.message.empty()) e.message = absl::StatusCodeToString(status.code());
  return e;
}

OpenAiError ModelNotFound(std::string_view model) {
  return FromStatus(
      InvalidParam("model", absl::StrCat("The model `", std::string(model), "` does not exist."),
                   absl::StatusCode::kNotFound));
}

OpenAiError BodyTooLarge(int64_t body_bytes, int64_t limit_bytes) {
  OpenAiError e;
  e.http_status = 413;
  e.type = "invalid_request_error";
  e.code = "request_too_large";
  e.message = absl::StrCat("the request body is ", body_bytes, " bytes, over the limit of ",
                           limit_bytes, " bytes");
  return e;
}

}  // namespace tessera::openai
