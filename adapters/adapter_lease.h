// A request's hold on one version of an adapter: while the lease lives, the registry counts the
// adapter as in use (pinned: never evicted, and UnloadAdapter refuses or waits), and the weights
// it names stay alive even if the name is reloaded or unloaded meanwhile.
//
// Move-only; the destructor (or Release) gives the pin back. A lease must not outlive the registry
// that issued it. A lease object is not itself synchronized, but it may be released on any thread.
#ifndef TESSERA_ADAPTERS_ADAPTER_LEASE_H_
#define TESSERA_ADAPTERS_ADAPTER_LEASE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "adapters/adapter_access.h"
#include "engine/lora_weights.h"

namespace tessera {

class AdapterRegistry;

class AdapterLease {
 public:
  AdapterLease() = default;  // holds nothing
  ~AdapterLease() { Release(); }
  AdapterLease(AdapterLease&& other) noexcept;
  AdapterLease& operator=(AdapterLease&& other) noexcept;
  AdapterLease(const AdapterLease&) = delete;
  AdapterLease& operator=(const AdapterLease&) = delete;

  // Gives the pin back now and drops the weights (idempotent).
  void Release();

  bool held() const { return registry_ != nullptr; }
  // The pinned version's weights; only while held().
  const LoraWeights& weights() const { return *weights_; }
  const std::shared_ptr<const LoraWeights>& shared_weights() const { return weights_; }
  // Registry-wide id of the pinned version: a reload gets a larger one.
  uint64_t version() const { return version_; }
  const AdapterKey& key() const { return key_; }
  const std::string& name() const { return key_.name; }
  const std::string& digest() const { return digest_; }
  int32_t rank() const { return rank_; }

 private:
  friend class AdapterRegistry;
  AdapterLease(AdapterRegistry* registry, AdapterKey key, uint64_t version,
               std::shared_ptr<const LoraWeights> weights, std::string digest, int32_t rank);

  AdapterRegistry* registry_ = nullptr;
  AdapterKey key_;
  uint64_t version_ = 0;
  std::shared_ptr<const LoraWeights> weights_;
  std::string digest_;
  int32_t rank_ = 0;
};

}  // namespace tessera

#endif  // TESSERA_ADAPTERS_ADAPTER_LEASE_H_
