#include "server/authenticator.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace tessera {

absl::StatusOr<Principal> Authenticator::Authenticate(
    std::optional<absl::string_view> authorization) const {
  if (!keys_.has_value()) return Principal{std::string(kAnonymousTenant), Role::kAdmin};
  if (!authorization.has_value()) {
    return absl::UnauthenticatedError(
        "missing API key: send the metadata \"authorization: Bearer <key>\"");
  }
  absl::string_view value = absl::StripAsciiWhitespace(*authorization);
  constexpr absl::string_view kScheme = "bearer ";
  if (!absl::StartsWithIgnoreCase(value, kScheme)) {
    return absl::UnauthenticatedError("the authorization metadata must be \"Bearer <key>\"");
  }
  value = absl::StripAsciiWhitespace(value.substr(kScheme.size()));
  const Principal* p = keys_->Find(value);
  if (p == nullptr) return absl::UnauthenticatedError("unknown API key");
  return *p;
}

}  // namespace tessera
