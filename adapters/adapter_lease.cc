#include "adapters/adapter_lease.h"

#include <utility>

#include "adapters/adapter_registry.h"

namespace tessera {

AdapterLease::AdapterLease(AdapterRegistry* registry, AdapterKey key, uint64_t version,
                           std::shared_ptr<const LoraWeights> weights, std::string digest,
                           int32_t rank)
    : registry_(registry),
      key_(std::move(key)),
      version_(version),
      weights_(std::move(weights)),
      digest_(std::move(digest)),
      rank_(rank) {}

AdapterLease::AdapterLease(AdapterLease&& other) noexcept
    : registry_(std::exchange(other.registry_, nullptr)),
      key_(std::move(other.key_)),
      version_(other.version_),
      weights_(std::move(other.weights_)),
      digest_(std::move(other.digest_)),
      rank_(other.rank_) {}

AdapterLease& AdapterLease::operator=(AdapterLease&& other) noexcept {
  if (this != &other) {
    Release();
    registry_ = std::exchange(other.registry_, nullptr);
    key_ = std::move(other.key_);
    version_ = other.version_;
    weights_ = std::move(other.weights_);
    digest_ = std::move(other.digest_);
    rank_ = other.rank_;
  }
  return *this;
}

void AdapterLease::Release() {
  if (registry_ == nullptr) return;
  std::exchange(registry_, nullptr)->Unpin(key_, version_);
  weights_.reset();
}

}  // namespace tessera
