// Latency targets and token-rate limits applied at the edge, for every front end (gRPC, HTTP):
// a request's own targets win, then its tenant's (the --api-keys file), then the daemon's
// --default-ttft-target-ms / --default-tpot-target-ms; and a tenant with tokens_per_minute
// reserves prompt + max_tokens x n tokens per request, refunding what it did not use.
//
// Stateless functions over the caller's TokenRateLimiter (thread-safe).
#ifndef TESSERA_SERVER_REQUEST_TARGETS_H_
#define TESSERA_SERVER_REQUEST_TARGETS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "scheduler/request.h"
#include "scheduler/token_rate_limiter.h"
#include "server/api_keys.h"

namespace tessera {

struct SloDefaults {
  std::optional<absl::Duration> ttft_target;  // --default-ttft-target-ms (unset: best effort)
  std::optional<absl::Duration> tpot_target;  // --default-tpot-target-ms
};

// Fills `request`'s unset targets from `policy` (may be null), then `defaults`.
void ApplySloTargets(const TenantPolicy* policy, const SloDefaults& defaults,
                     GenerateRequest& request);

// The tokens a request may use: its prompt and max_tokens for each of its n samples.
int64_t TokenReservation(const GenerateRequest& request);

// Sets each tenant's tokens_per_minute on `limiter`.
absl::Status ConfigureTokenLimits(const std::map<std::string, TenantPolicy>& tenants,
                                  TokenRateLimiter& limiter);

}  // namespace tessera

#endif  // TESSERA_SERVER_REQUEST_TARGETS_H_
