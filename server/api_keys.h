// The --api-keys file: which key belongs to which tenant, with which role, and per-tenant limits.
//
//   {
//     "keys": [
//       {"key": "sk-acme-7f3a...", "tenant": "acme", "role": "user"},
//       {"key": "sk-ops-91c2...", "tenant": "ops", "role": "admin"}
//     ],
//     "tenants": {"acme": {"max_in_flight": 32, "ttft_target_ms": 500, "tpot_target_ms": 50,
//                          "weight": 2, "tokens_per_minute": 600000}}
//   }
//
// Tenant names are 1-64 characters of [A-Za-z0-9._-] (they become metric labels). A key may appear
// once; unknown fields are errors, so a misspelt limit is not silently ignored. Immutable after
// loading; thread-safe to read.
#ifndef TESSERA_SERVER_API_KEYS_H_
#define TESSERA_SERVER_API_KEYS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tessera {

enum class Role : uint8_t { kUser, kAdmin };

absl::string_view RoleName(Role role);  // "user" | "admin"

// Who is calling.
struct Principal {
  std::string tenant;
  Role role = Role::kUser;
};

struct TenantPolicy {
  std::optional<int32_t> max_in_flight;  // unset: the daemon's --max-in-flight-per-tenant
  // Latency targets for requests that set none (unset: the daemon's --default-*-target-ms).
  std::optional<absl::Duration> ttft_target;
  std::optional<absl::Duration> tpot_target;
  double weight = 1.0;  // share of the server under fairness, relative to other tenants
  // Prompt + generated tokens per minute (unset: no limit); over it is RESOURCE_EXHAUSTED.
  std::optional<int64_t> tokens_per_minute;
};

class ApiKeys {
 public:
  static absl::StatusOr<ApiKeys> Load(const std::string& path);
  // `source` names the text in errors.
  static absl::StatusOr<ApiKeys> Parse(absl::string_view json_text, absl::string_view source);

  // The key's principal, or nullptr for an unknown key.
  const Principal* Find(absl::string_view key) const;
  const std::map<std::string, TenantPolicy>& tenants() const { return tenants_; }
  size_t num_keys() const { return keys_.size(); }

 private:
  absl::flat_hash_map<std::string, Principal> keys_;
  std::map<std::string, TenantPolicy> tenants_;
};

// Whether `name` is a valid tenant name (see above).
bool IsValidTenantName(absl::string_view name);

}  // namespace tessera

#endif  // TESSERA_SERVER_API_KEYS_H_
