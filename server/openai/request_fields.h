// Typed reads of an OpenAI request body's fields, each failing with InvalidArgument that names
// the field (as the OpenAI param) and says what was expected. Internal to tessera_openai.
//
// Stateless; thread-safe.
#ifndef TESSERA_SERVER_OPENAI_REQUEST_FIELDS_H_
#define TESSERA_SERVER_OPENAI_REQUEST_FIELDS_H_

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tessera::openai {

using Json = nlohmann::ordered_json;

// `auto lhs = value of expr (a StatusOr)`, or return its error.
#define TESSERA_OPENAI_ASSIGN_OR_RETURN(lhs, expr) \
  auto lhs##_or = (expr);                          \
  if (!lhs##_or.ok()) return lhs##_or.status();    \
  auto lhs = *std::move(lhs##_or)

// The field, or null when absent or JSON null (OpenAI treats both as "not given").
const Json* FindField(const Json& body, std::string_view name);

absl::StatusOr<std::optional<bool>> GetBool(const Json& body, std::string_view name);
absl::StatusOr<std::optional<std::string>> GetString(const Json& body, std::string_view name);
// A whole number in [lo, hi] (a float with no fraction, like 16.0, counts, as in Python).
absl::StatusOr<std::optional<int64_t>> GetInt(const Json& body, std::string_view name, int64_t lo,
                                              int64_t hi);
// A finite number in [lo, hi].
absl::StatusOr<std::optional<double>> GetNumber(const Json& body, std::string_view name, double lo,
                                                double hi);
// A whole number from a JSON value, for list elements; `what` names it in errors.
absl::StatusOr<int64_t> IntOf(const Json& value, std::string_view what, int64_t lo, int64_t hi);

// `stream` and `stream_options.include_usage` (both false when absent); stream_options is refused
// without stream, as OpenAI does.
absl::Status ReadStreamFields(const Json& body, bool* stream, bool* include_usage);

// The top-level fields of `body` that neither `known` lists nor `also_known` accepts, in order.
std::vector<std::string> UnknownFields(const Json& body,
                                       std::initializer_list<std::string_view> known,
                                       bool (*also_known)(std::string_view));

// The JSON type's name as OpenAI's errors say it: "string", "integer", "number", ...
const char* TypeName(const Json& value);

}  // namespace tessera::openai

#endif  // TESSERA_SERVER_OPENAI_REQUEST_FIELDS_H_
