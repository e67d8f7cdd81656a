#include "scheduler/token_rate_limiter.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tessera {

absl::Status TokenRateLimiter::SetLimit(std::string_view tenant, int64_t tokens_per_minute) {
  if (tokens_per_minute < 0) {
    return absl::InvalidArgumentError(absl::StrCat("tenant \"", std::string(tenant),
                                                   "\": tokens per minute must be >= 0, got ",
                                                   tokens_per_minute));
  }
  absl::MutexLock lock(&mu_);
  auto it = tenants_.find(tenant);
  if (it == tenants_.end()) it = tenants_.emplace(std::string(tenant), Tenant()).first;
  it->second.limit = tokens_per_minute;
  return absl::OkStatus();
}

int64_t TokenRateLimiter::Limit(std::string_view tenant) const {
  absl::MutexLock lock(&mu_);
  auto it = tenants_.find(tenant);
  return it == tenants_.end() ? 0 : it->second.limit;
}

void TokenRateLimiter::Expire(Tenant& t, absl::Time now) {
  while (!t.grants.empty() && t.grants.front().first + kWindow <= now) {
    t.used -= t.grants.front().second;
    t.grants.pop_front();
  }
}

// A grant at time g counts while now < g + kWindow.
absl::Time TokenRateLimiter::AvailableAtLocked(const Tenant& t, int64_t tokens, absl::Time now) {
  if (t.limit == 0) return now;
  if (tokens > t.limit) return absl::InfiniteFuture();
  int64_t in_window = t.used;
  auto it = t.grants.begin();
  for (; it != t.grants.end() && it->first + kWindow <= now; ++it) in_window -= it->second;
  for (; in_window + tokens > t.limit; ++it) in_window -= it->second;  // ends: tokens <= limit
  return it == t.grants.begin() ? now : std::max(now, std::prev(it)->first + kWindow);
}

absl::Status TokenRateLimiter::TryAcquire(std::string_view tenant, int64_t tokens, absl::Time now) {
  if (tokens < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("tenant \"", std::string(tenant), "\": negative token count ", tokens));
  }
  absl::MutexLock lock(&mu_);
  auto it = tenants_.find(tenant);
  if (it == tenants_.end() || it->second.limit == 0) return absl::OkStatus();
  Tenant& t = it->second;
  Expire(t, now);
  if (tokens > t.limit) {
    return absl::ResourceExhaustedError(
        absl::StrCat("tenant \"", std::string(tenant), "\": the request needs ", tokens,
                     " tokens, more than its limit of ", t.limit,
                     " tokens per minute; it can never be admitted"));
  }
  if (t.used + tokens > t.limit) {
    const absl::Duration wait = AvailableAtLocked(t, tokens, now) - now;
    return absl::ResourceExhaustedError(absl::StrCat(
        "tenant \"", std::string(tenant), "\" is over its limit of ", t.limit,
        " tokens per minute (", t.used, " used in the last minute, this request needs ", tokens,
        "); retry in ", absl::StrFormat("%.1f", absl::ToDoubleSeconds(wait)), " s"));
  }
  if (tokens > 0) {
    t.grants.emplace_back(now, tokens);
    t.used += tokens;
  }
  return absl::OkStatus();
}

absl::Time TokenRateLimiter::AvailableAt(std::string_view tenant, int64_t tokens,
                                         absl::Time now) const {
  absl::MutexLock lock(&mu_);
  auto it = tenants_.find(tenant);
  if (it == tenants_.end()) return now;
  return AvailableAtLocked(it->second, std::max<int64_t>(tokens, 0), now);
}

void TokenRateLimiter::Refund(std::string_view tenant, int64_t tokens) {
  absl::MutexLock lock(&mu_);
  auto it = tenants_.find(tenant);
  if (it == tenants_.end()) return;
  Tenant& t = it->second;
  while (tokens > 0 && !t.grants.empty()) {
    const int64_t take = std::min(tokens, t.grants.back().second);
    t.grants.back().second -= take;
    t.used -= take;
    tokens -= take;
    if (t.grants.back().second == 0) t.grants.pop_back();
  }
}

int64_t TokenRateLimiter::Used(std::string_view tenant, absl::Time now) const {
  absl::MutexLock lock(&mu_);
  auto it = tenants_.find(tenant);
  if (it == tenants_.end()) return 0;
  int64_t used = 0;
  for (const auto& [at, n] : it->second.grants) {
    if (at + kWindow > now) used += n;
  }
  return used;
}

}  // namespace tessera
