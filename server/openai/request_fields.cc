#include "server/openai/request_fields.h"
namespace tessera::openai {
const Json* FindField(const Json&, std::string_view) { return nullptr; }
absl::StatusOr<std::optional<bool>> GetBool(const Json&, std::string_view) {
  return absl::UnimplementedError("openai: not yet");
}
absl::StatusOr<std::optional<std::string>> GetString(const Json&, std::string_view) {
  return absl::UnimplementedError("openai: not yet");
}
absl::StatusOr<std::optional<int64_t>> GetInt(const Json&, std::string_view, int64_t, int64_t) {
  return absl::UnimplementedError("openai: not yet");
}
absl::StatusOr<std::optional<double>> GetNumber(const Json&, std::string_view, double, double) {
  return absl::UnimplementedError("openai: not yet");
}
absl::StatusOr<int64_t> IntOf(const Json&, std::string_view, int64_t, int64_t) {
  return absl::UnimplementedError("openai: not yet");
}
std::string_view TypeName(const Json&) { return ""; }
}  // namespace tessera::openai
