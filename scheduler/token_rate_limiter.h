// Per-tenant tokens-per-minute limits: a sliding window over the last minute, exact (a log of
// what each tenant was granted in it), so that in no 60-second window does a tenant get more
// than its limit. A token bucket would be smaller but lets a full bucket plus a minute's refill
// (twice the limit) through in one minute.
//
// A request asks for the tokens it may use (prompt + max_tokens is the usual reservation) and
// gives back what it did not use (Refund). A refusal is ResourceExhausted and says when to retry,
// so that the edge can answer RESOURCE_EXHAUSTED / HTTP 429 with that delay, and a router can
// send the request elsewhere. A request larger than the whole limit can never pass; it is
// refused with a message that says so.
//
// Time comes from the caller (the scheduler's Clock), which keeps tests exact. Thread-safe: the
// edge may ask from request threads while the scheduler refunds. The log holds one entry per
// grant in the last minute per tenant.
#ifndef TESSERA_SCHEDULER_TOKEN_RATE_LIMITER_H_
#define TESSERA_SCHEDULER_TOKEN_RATE_LIMITER_H_

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tessera {

class TokenRateLimiter {
 public:
  static constexpr absl::Duration kWindow = absl::Minutes(1);

  TokenRateLimiter() = default;
  TokenRateLimiter(const TokenRateLimiter&) = delete;
  TokenRateLimiter& operator=(const TokenRateLimiter&) = delete;

  // Sets `tenant`'s limit; 0 removes it. InvalidArgument when negative.
  absl::Status SetLimit(std::string_view tenant, int64_t tokens_per_minute);
  // 0: unlimited.
  int64_t Limit(std::string_view tenant) const;

  // Grants `tokens` to `tenant` at `now` when they fit in its last minute, else
  // ResourceExhausted ("... retry in 12.5 s") and nothing is granted. InvalidArgument for a
  // negative count.
  absl::Status TryAcquire(std::string_view tenant, int64_t tokens, absl::Time now);
  // The earliest time at or after `now` when `tokens` would fit (assuming nothing else is
  // granted meanwhile); InfiniteFuture when they exceed the limit itself.
  absl::Time AvailableAt(std::string_view tenant, int64_t tokens, absl::Time now) const;
  // Gives back up to `tokens` of the tenant's most recent grants (a request that stopped
  // early). Negative counts are ignored.
  void Refund(std::string_view tenant, int64_t tokens);
  // Tokens granted to `tenant` in the minute before `now`.
  int64_t Used(std::string_view tenant, absl::Time now) const;

 private:
  struct Tenant {
    int64_t limit = 0;
    // Grants within the window, oldest first; `used` is their sum.
    std::deque<std::pair<absl::Time, int64_t>> grants;
    int64_t used = 0;
  };

  static void Expire(Tenant& t, absl::Time now);
  static absl::Time AvailableAtLocked(const Tenant& t, int64_t tokens, absl::Time now);

  mutable absl::Mutex mu_;
  std::map<std::string, Tenant, std::less<>> tenants_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_TOKEN_RATE_LIMITER_H_
