#include "server/tenant_limiter.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace tessera {

TenantLimiter::Slot::Slot(Slot&& other) noexcept
    : limiter_(std::exchange(other.limiter_, nullptr)), tenant_(std::move(other.tenant_)) {}

TenantLimiter::Slot& TenantLimiter::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    Release();
    limiter_ = std::exchange(other.limiter_, nullptr);
    tenant_ = std::move(other.tenant_);
  }
  return *this;
}

void TenantLimiter::Slot::Release() {
  if (limiter_ != nullptr) std::exchange(limiter_, nullptr)->Release(tenant_);
}

TenantLimiter::TenantLimiter(int32_t default_limit, std::map<std::string, int32_t> limits)
    : default_limit_(default_limit), limits_(std::move(limits)) {}

int32_t TenantLimiter::LimitOf(const std::string& tenant) const {
  auto it = limits_.find(tenant);
  return it == limits_.end() ? default_limit_ : it->second;
}

absl::StatusOr<TenantLimiter::Slot> TenantLimiter::Acquire(const std::string& tenant) {
  const int32_t limit = LimitOf(tenant);
  absl::MutexLock lock(&mu_);
  int32_t& count = in_flight_[tenant];
  if (count >= limit) {
    return absl::ResourceExhaustedError(absl::StrCat("tenant \"", tenant, "\" already has ", count,
                                                     " requests in flight, its limit"));
  }
  ++count;
  return Slot(this, tenant);
}

void TenantLimiter::Release(const std::string& tenant) {
  absl::MutexLock lock(&mu_);
  auto it = in_flight_.find(tenant);
  if (it != in_flight_.end() && --it->second <= 0) in_flight_.erase(it);
}

int32_t TenantLimiter::in_flight(const std::string& tenant) const {
  absl::MutexLock lock(&mu_);
  auto it = in_flight_.find(tenant);
  return it == in_flight_.end() ? 0 : it->second;
}

}  // namespace tessera
