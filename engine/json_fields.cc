#include "engine/json_fields.h"

#include <cmath>
#include <fstream>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tessera {

using Json = nlohmann::json;

std::string QuoteForError(std::string_view s) {
  if (s.size() > 64) return absl::StrCat("\"", Sv(s.substr(0, 61)), "...\"");
  return absl::StrCat("\"", Sv(s), "\"");
}

std::string DescribeJson(const Json& v) {
  if (v.is_null()) return "null";
  // dump() recurses; a deeply nested value must not overflow the stack.
  if (v.is_array() || v.is_object()) return v.type_name();
  if (v.is_string()) return absl::StrCat("string ", QuoteForError(v.get_ref<const std::string&>()));
  return absl::StrCat(v.type_name(), " ", v.dump(-1, ' ', false, Json::error_handler_t::replace));
}

const Json* JsonFields::Find(std::string_view key) const {
  auto it = object_.find(key);
  return it == object_.end() ? nullptr : &*it;
}

const Json* JsonFields::FindNonNull(std::string_view key) const {
  const Json* v = Find(key);
  return v != nullptr && !v->is_null() ? v : nullptr;
}

std::string JsonFields::Name(std::string_view key) const {
  return absl::StrCat("\"", prefix_, Sv(key), "\"");
}

absl::Status JsonFields::Error(std::string_view message) const {
  return absl::InvalidArgumentError(absl::StrCat(source_, ": ", Sv(message)));
}

absl::Status JsonFields::TypeError(std::string_view key, std::string_view expected,
                                   const Json& v) const {
  return Error(absl::StrCat(Name(key), " must be ", Sv(expected), ", got ", DescribeJson(v)));
}

absl::StatusOr<int64_t> JsonFields::Int(std::string_view key, const Json& v, int64_t min,
                                        int64_t max) const {
  if (!v.is_number_integer()) return TypeError(key, "an integer", v);
  // Positive literals parse as unsigned; a value above INT64_MAX must not wrap.
  const bool too_big = v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(max);
  const int64_t x = too_big ? 0 : v.get<int64_t>();
  if (too_big || x < min || x > max) {
    return Error(absl::StrCat(Name(key), " (", v.dump(), ") must be in [", min, ", ", max, "]"));
  }
  return x;
}

absl::StatusOr<std::optional<int64_t>> JsonFields::OptionalInt(std::string_view key, int64_t min,
                                                               int64_t max) const {
  const Json* v = FindNonNull(key);
  if (v == nullptr) return std::nullopt;
  return Int(key, *v, min, max);
}

absl::StatusOr<int64_t> JsonFields::IntOr(std::string_view key, int64_t fallback, int64_t min,
                                          int64_t max) const {
  absl::StatusOr<std::optional<int64_t>> x = OptionalInt(key, min, max);
  if (!x.ok()) return x.status();
  return x->value_or(fallback);
}

absl::StatusOr<int64_t> JsonFields::RequiredInt(std::string_view key, int64_t min,
                                                int64_t max) const {
  const Json* v = Find(key);
  if (v == nullptr) return Error(absl::StrCat(Name(key), " is required"));
  return Int(key, *v, min, max);
}

absl::StatusOr<std::optional<double>> JsonFields::OptionalPositive(std::string_view key) const {
  const Json* v = FindNonNull(key);
  if (v == nullptr) return std::nullopt;
  const double x = v->is_number() ? v->get<double>() : 0.0;
  if (!std::isfinite(x) || x <= 0) return TypeError(key, "a positive number", *v);
  return x;
}

absl::StatusOr<double> JsonFields::RequiredPositive(std::string_view key) const {
  absl::StatusOr<std::optional<double>> x = OptionalPositive(key);
  if (!x.ok()) return x.status();
  if (!x->has_value()) return Error(absl::StrCat(Name(key), " is required"));
  return **x;
}

absl::StatusOr<bool> JsonFields::BoolOr(std::string_view key, bool fallback) const {
  const Json* v = FindNonNull(key);
  if (v == nullptr) return fallback;
  if (!v->is_boolean()) return TypeError(key, "true or false", *v);
  return v->get<bool>();
}

absl::StatusOr<std::optional<std::string>> JsonFields::OptionalString(std::string_view key) const {
  const Json* v = FindNonNull(key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) return TypeError(key, "a string", *v);
  return v->get<std::string>();
}

absl::StatusOr<Json> ParseJsonObject(std::string_view text, std::string_view source) {
  Json root = Json::parse(text.data(), text.data() + text.size(), /*cb=*/nullptr,
                          /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(Sv(source), ": not valid JSON"));
  }
  if (!root.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Sv(source), ": must be a JSON object, got ", DescribeJson(root)));
  }
  return root;
}

absl::StatusOr<std::string> ReadSmallFile(const std::filesystem::path& path, uintmax_t max_bytes) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (st.type() == fs::file_type::not_found) {
    return absl::NotFoundError(absl::StrCat(path.string(), ": not found"));
  }
  if (ec) return absl::InvalidArgumentError(absl::StrCat(path.string(), ": ", ec.message()));
  if (!fs::is_regular_file(st)) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": not a regular file"));
  }
  std::ifstream in(path, std::ios::binary);
  std::string data;
  char buf[1 << 14];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    data.append(buf, static_cast<size_t>(in.gcount()));
    if (data.size() > max_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(path.string(), ": larger than ", max_bytes, " bytes"));
    }
  }
  if (!in.eof()) return absl::InvalidArgumentError(absl::StrCat(path.string(), ": read failed"));
  return data;
}

}  // namespace tessera
