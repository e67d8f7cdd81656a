// Per-tenant caps on requests in flight (queued or running), so one tenant cannot fill the
// scheduler's queue for everyone.
//
// Thread-safe. A Slot is held for as long as the request is in the scheduler and gives its place
// back when destroyed; it may outlive nothing but the limiter.
#ifndef TESSERA_SERVER_TENANT_LIMITER_H_
#define TESSERA_SERVER_TENANT_LIMITER_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace tessera {

class TenantLimiter {
 public:
  class Slot {
   public:
    Slot() = default;
    ~Slot() { Release(); }
    Slot(Slot&& other) noexcept;
    Slot& operator=(Slot&& other) noexcept;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    // Gives the place back now (idempotent).
    void Release();

   private:
    friend class TenantLimiter;
    Slot(TenantLimiter* limiter, std::string tenant)
        : limiter_(limiter), tenant_(std::move(tenant)) {}
    TenantLimiter* limiter_ = nullptr;
    std::string tenant_;
  };

  // `default_limit` applies to tenants without an entry in `limits`.
  TenantLimiter(int32_t default_limit, std::map<std::string, int32_t> limits);

  // ResourceExhausted naming the limit when the tenant already has that many in flight.
  absl::StatusOr<Slot> Acquire(const std::string& tenant);

  int32_t in_flight(const std::string& tenant) const;
  int32_t LimitOf(const std::string& tenant) const;

 private:
  void Release(const std::string& tenant);

  const int32_t default_limit_;
  const std::map<std::string, int32_t> limits_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, int32_t> in_flight_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tessera

#endif  // TESSERA_SERVER_TENANT_LIMITER_H_
