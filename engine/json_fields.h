// Hostile-input helpers for small JSON files (config.json and friends).
//
// nlohmann's get<>() and at() throw on a type mismatch or a missing key; everything here checks
// first, so malformed input becomes an absl::Status naming the file and field. Include only from
// .cc files: nlohmann_json is a private dependency of tessera_engine.
#ifndef TESSERA_ENGINE_JSON_FIELDS_H_
#define TESSERA_ENGINE_JSON_FIELDS_H_

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace tessera {

// This absl predates std::string_view support (ABSL_OPTION_USE_STD_STRING_VIEW is 0).
inline absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// `s` in double quotes, truncated so that a hostile file cannot make error messages huge.
std::string QuoteForError(std::string_view s);

// Type and value of a JSON value for error messages, e.g. `string "64"`; containers by type only.
std::string DescribeJson(const nlohmann::json& v);

// Typed access to the fields of one JSON object; errors read `SOURCE: "PREFIXkey" ...`.
class JsonFields {
 public:
  JsonFields(const nlohmann::json& object, std::string_view source, std::string prefix = "")
      : object_(object), source_(source), prefix_(std::move(prefix)) {}

  std::string_view source() const { return source_; }

  // nullptr when absent.
  const nlohmann::json* Find(std::string_view key) const;
  // nullptr when absent or null (transformers treats null like absent for most fields).
  const nlohmann::json* FindNonNull(std::string_view key) const;

  std::string Name(std::string_view key) const;
  absl::Status Error(std::string_view message) const;
  absl::Status TypeError(std::string_view key, std::string_view expected,
                         const nlohmann::json& v) const;

  // An integer in [min, max]; floats such as 64.0 are rejected.
  absl::StatusOr<int64_t> Int(std::string_view key, const nlohmann::json& v, int64_t min,
                              int64_t max) const;
  absl::StatusOr<std::optional<int64_t>> OptionalInt(std::string_view key, int64_t min,
                                                     int64_t max) const;
  absl::StatusOr<int64_t> IntOr(std::string_view key, int64_t fallback, int64_t min,
                                int64_t max) const;
  absl::StatusOr<int64_t> RequiredInt(std::string_view key, int64_t min, int64_t max) const;

  // A finite number > 0; integers are accepted where Python would take a float.
  absl::StatusOr<std::optional<double>> OptionalPositive(std::string_view key) const;
  absl::StatusOr<double> RequiredPositive(std::string_view key) const;

  absl::StatusOr<bool> BoolOr(std::string_view key, bool fallback) const;
  absl::StatusOr<std::optional<std::string>> OptionalString(std::string_view key) const;

 private:
  const nlohmann::json& object_;
  std::string source_;  // owned: callers often pass a temporary path string
  std::string prefix_;
};

// Parses `text` (never throws); an error unless it is a JSON object.
absl::StatusOr<nlohmann::json> ParseJsonObject(std::string_view text, std::string_view source);

// Reads a whole regular file of at most `max_bytes`; NotFound when it does not exist.
absl::StatusOr<std::string> ReadSmallFile(const std::filesystem::path& path, uintmax_t max_bytes);

}  // namespace tessera

#endif  // TESSERA_ENGINE_JSON_FIELDS_H_
