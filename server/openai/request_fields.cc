#include "server/openai/request_fields.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "server/openai/openai_error.h"

namespace tessera::openai {
namespace {

absl::Status WrongType(std::string_view name, std::string_view expected, const Json& value) {
  return InvalidParam(name, absl::StrCat(std::string(name), " must be ", std::string(expected),
                                         ", not ", TypeName(value)));
}

}  // namespace

const char* TypeName(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return "a boolean";
    case Json::value_t::string:
      return "a string";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "an integer";
    case Json::value_t::number_float:
      return "a number";
    case Json::value_t::array:
      return "an array";
    case Json::value_t::object:
      return "an object";
    default:
      return "a binary value";
  }
}

std::vector<std::string> UnknownFields(const Json& body,
                                       std::initializer_list<std::string_view> known,
                                       bool (*also_known)(std::string_view)) {
  std::vector<std::string> unknown;
  for (const auto& [key, value] : body.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end() && !also_known(key)) {
      unknown.push_back(key);
    }
  }
  return unknown;
}

const Json* FindField(const Json& body, std::string_view name) {
  if (!body.is_object()) return nullptr;
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::StatusOr<std::optional<bool>> GetBool(const Json& body, std::string_view name) {
  const Json* v = FindField(body, name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_boolean()) return WrongType(name, "a boolean", *v);
  return v->get<bool>();
}

absl::StatusOr<std::optional<std::string>> GetString(const Json& body, std::string_view name) {
  const Json* v = FindField(body, name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) return WrongType(name, "a string", *v);
  return v->get<std::string>();
}

absl::StatusOr<int64_t> IntOf(const Json& value, std::string_view what, int64_t lo, int64_t hi) {
  const std::string range = absl::StrCat("an integer in [", lo, ", ", hi, "]");
  if (value.is_number_unsigned()) {
    const uint64_t u = value.get<uint64_t>();
    if (u > static_cast<uint64_t>(hi) || (lo > 0 && u < static_cast<uint64_t>(lo))) {
      return InvalidParam(what, absl::StrCat(std::string(what), " must be ", range, ", not ", u));
    }
    return static_cast<int64_t>(u);
  }
  if (value.is_number_integer()) {
    const int64_t i = value.get<int64_t>();
    if (i < lo || i > hi)
      return InvalidParam(what, absl::StrCat(std::string(what), " must be ", range, ", not ", i));
    return i;
  }
  if (value.is_number_float()) {
    // Python reads 16.0 as a valid int field (pydantic's lax mode); 16.5 is refused.
    const double d = value.get<double>();
    if (!std::isfinite(d) || d != std::floor(d)) {
      return InvalidParam(what, absl::StrCat(std::string(what), " must be ", range, ", not ", d));
    }
    if (d < static_cast<double>(lo) || d > static_cast<double>(hi)) {
      return InvalidParam(what, absl::StrCat(std::string(what), " must be ", range, ", not ", d));
    }
    return static_cast<int64_t>(d);
  }
  return WrongType(what, "an integer", value);
}

absl::StatusOr<std::optional<int64_t>> GetInt(const Json& body, std::string_view name, int64_t lo,
                                              int64_t hi) {
  const Json* v = FindField(body, name);
  if (v == nullptr) return std::nullopt;
  absl::StatusOr<int64_t> i = IntOf(*v, name, lo, hi);
  if (!i.ok()) return i.status();
  return *i;
}

absl::StatusOr<std::optional<double>> GetNumber(const Json& body, std::string_view name, double lo,
                                                double hi) {
  const Json* v = FindField(body, name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_number()) return WrongType(name, "a number", *v);
  const double d = v->get<double>();
  if (!std::isfinite(d) || d < lo || d > hi) {
    return InvalidParam(
        name, absl::StrCat(std::string(name), " must be in [", lo, ", ", hi, "], not ", d));
  }
  return d;
}

absl::Status ReadStreamFields(const Json& body, bool* stream, bool* include_usage) {
  TESSERA_OPENAI_ASSIGN_OR_RETURN(given, GetBool(body, "stream"));
  *stream = given.value_or(false);
  *include_usage = false;
  const Json* options = FindField(body, "stream_options");
  if (options == nullptr) return absl::OkStatus();
  if (!*stream) {
    return InvalidParam("stream_options", "stream_options can only be given when stream is true");
  }
  if (!options->is_object()) {
    return InvalidParam("stream_options",
                        absl::StrCat("stream_options must be an object, not ", TypeName(*options)));
  }
  absl::StatusOr<std::optional<bool>> usage = GetBool(*options, "include_usage");
  if (!usage.ok()) {
    return InvalidParam("stream_options",
                        absl::StrCat("stream_options.", std::string(usage.status().message())));
  }
  *include_usage = usage->value_or(false);
  return absl::OkStatus();
}

}  // namespace tessera::openai
