// What the registry reports about one adapter (ListAdapters, metrics): its state, tier and counts.
// Plain values, copied out under the registry's lock.
#ifndef TESSERA_ADAPTERS_ADAPTER_INFO_H_
#define TESSERA_ADAPTERS_ADAPTER_INFO_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tessera {

enum class AdapterState : uint8_t {
  kOnDisk,   // known, weights not in memory (never loaded yet, or evicted); the next use loads it
  kLoading,  // its first load, or a reload after eviction, is under way; users wait for it
  kHost,     // weights in host memory
  kDevice,   // weights resident in the device page pool (set by the CUDA device tier; not yet)
  kFailed,   // the last load failed (see last_error); the next use tries again
};

// Where the weights are: kDisk for kOnDisk, kLoading and kFailed.
enum class AdapterTier : uint8_t { kDisk, kHost, kDevice };

absl::string_view AdapterStateName(AdapterState s);  // "on_disk" | "loading" | "host" | ...
absl::string_view AdapterTierName(AdapterTier t);    // "disk" | "host" | "device"
AdapterTier AdapterTierOf(AdapterState s);

struct AdapterInfo {
  std::string name;
  std::string owner;   // "" for public
  std::string source;  // the folder it loads from
  std::string digest;  // of the last loaded version ("" before the first load)
  AdapterState state = AdapterState::kOnDisk;
  AdapterTier tier = AdapterTier::kDisk;
  bool reloading = false;  // an explicit reload is under way; the current version still serves
  int32_t rank = 0;        // of the last loaded version
  int64_t bytes = 0;       // of the last loaded version
  int32_t refcount = 0;    // requests in flight holding any version of it
  int64_t served = 0;      // leases handed out since it was registered
  uint64_t version = 0;    // id of the current version (0: never loaded); grows with every load
  absl::Time last_used = absl::InfinitePast();
  std::string last_error;  // of the last failed load ("" when the last load succeeded)
};

}  // namespace tessera

#endif  // TESSERA_ADAPTERS_ADAPTER_INFO_H_
