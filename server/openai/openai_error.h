// OpenAI's error shape, {"error": {"message", "type", "param", "code"}}, and the HTTP status that
// goes with it, made from the absl::Status the edge's checks return.
//
// A parser of this folder names the offending request field in the status itself (a payload set
// by InvalidParam), so that FromStatus can fill `param` without the caller knowing the field.
//
// Stateless; thread-safe.
#ifndef TESSERA_SERVER_OPENAI_OPENAI_ERROR_H_
#define TESSERA_SERVER_OPENAI_OPENAI_ERROR_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

namespace tessera::openai {

struct OpenAiError {
  int http_status = 500;
  std::string message;
  std::string type;   // e.g. "invalid_request_error"
  std::string param;  // the request field at fault; empty: null in the JSON
  std::string code;   // e.g. "model_not_found"; empty: null in the JSON
};

// {"error": {"message", "type", "param", "code"}}.
nlohmann::json ToJson(const OpenAiError& error);

// The status's code -> OpenAI's HTTP status and type:
//   InvalidArgument, OutOfRange, FailedPrecondition, AlreadyExists -> 400 invalid_request_error
//   Unauthenticated -> 401 authentication_error      PermissionDenied -> 403 permission_error
//   NotFound -> 404 not_found_error (code "model_not_found" when the param is "model")
//   ResourceExhausted -> 429 rate_limit_error        Unavailable -> 503 service_unavailable_error
//   DeadlineExceeded -> 504 timeout_error            Cancelled -> 499 (the client went away)
//   anything else -> 500 internal_server_error
// `param` overrides the field the status names (InvalidParam); both may be empty.
OpenAiError FromStatus(const absl::Status& status, std::string param = "");

// InvalidArgument (or `code`) whose message is `message` and whose OpenAI param is `param`.
absl::Status InvalidParam(std::string_view param, std::string_view message,
                          absl::StatusCode code = absl::StatusCode::kInvalidArgument);
// The param a status carries (InvalidParam), or empty.
std::string ParamOf(const absl::Status& status);

// 404 model_not_found: "The model `name` does not exist." (OpenAI's wording).
OpenAiError ModelNotFound(std::string_view model);
// 413: the body is over `limit_bytes`.
OpenAiError BodyTooLarge(int64_t body_bytes, int64_t limit_bytes);

}  // namespace tessera::openai

#endif  // TESSERA_SERVER_OPENAI_OPENAI_ERROR_H_
