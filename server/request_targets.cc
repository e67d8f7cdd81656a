#include "server/request_targets.h"

namespace tessera {

void ApplySloTargets(const TenantPolicy* policy, const SloDefaults& defaults,
                     GenerateRequest& request) {
  if (!request.ttft_target.has_value()) {
    request.ttft_target = policy != nullptr && policy->ttft_target.has_value()
                              ? policy->ttft_target
                              : defaults.ttft_target;
  }
  if (!request.tpot_target.has_value()) {
    request.tpot_target = policy != nullptr && policy->tpot_target.has_value()
                              ? policy->tpot_target
                              : defaults.tpot_target;
  }
}

int64_t TokenReservation(const GenerateRequest& request) {
  return static_cast<int64_t>(request.prompt_token_ids.size()) +
         int64_t{request.max_tokens} * request.n;
}

absl::Status ConfigureTokenLimits(const std::map<std::string, TenantPolicy>& tenants,
                                  TokenRateLimiter& limiter) {
  for (const auto& [tenant, policy] : tenants) {
    if (!policy.tokens_per_minute.has_value()) continue;
    if (absl::Status s = limiter.SetLimit(tenant, *policy.tokens_per_minute); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace tessera
