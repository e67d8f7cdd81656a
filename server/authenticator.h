// Turns a call's `authorization` metadata into the calling tenant.
//
// With an --api-keys file a call must carry `authorization: Bearer <key>` for a known key, else
// UNAUTHENTICATED. Without one there is a single anonymous tenant, "default", with the admin role:
// the daemon then trusts whoever can reach its port (it listens on 127.0.0.1 by default).
// Immutable after construction; thread-safe.
#ifndef TESSERA_SERVER_AUTHENTICATOR_H_
#define TESSERA_SERVER_AUTHENTICATOR_H_

#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/api_keys.h"

namespace tessera {

inline constexpr absl::string_view kAnonymousTenant = "default";

class Authenticator {
 public:
  explicit Authenticator(std::optional<ApiKeys> keys) : keys_(std::move(keys)) {}

  // `authorization`: the metadata value, nullopt when the call has none.
  absl::StatusOr<Principal> Authenticate(std::optional<absl::string_view> authorization) const;

  bool enabled() const { return keys_.has_value(); }
  const std::optional<ApiKeys>& keys() const { return keys_; }

 private:
  std::optional<ApiKeys> keys_;
};

}  // namespace tessera

#endif  // TESSERA_SERVER_AUTHENTICATOR_H_
