// The daemon's LoRA adapters: name -> source folder, owner, digest, state, counts, and the host
// cache of their weights.
//
// Keys and visibility are (owner, name) with owner "" public; see adapter_access.h for who may use,
// list and unload what. A caller that may not see an adapter gets exactly the answer for a missing
// one: NotFound "adapter NAME not found".
//
// Versions. Every load of weights (explicit Load, a lazy first load, a reload after eviction) makes
// a new version with a registry-wide increasing id. Load of a known key swaps the new version in
// atomically: later Acquires get it, leases taken before keep theirs (the lease owns the weights).
// A failed reload leaves the current version serving.
//
// Lazy loading (options.adapter_dir set): Acquire of a name the tenant cannot see loads
// DIR/<name> on first use as a PUBLIC adapter. The directory is the operator's shared catalogue,
// so what it holds is public; a tenant wanting a private copy loads it by name with LoadByName. A
// lazily loaded adapter that fails stays listed as kFailed with its error; each later Acquire that
// finds it failed tries again. Concurrent Acquires of a name being loaded wait for that one load
// and share its outcome.
//
// Host cache. Resident host bytes = current versions in kHost + replaced versions still held by
// leases. Above options.host_cache_bytes, unpinned adapters (no lease on any version) are evicted
// least recently used first, back to kOnDisk; their next Acquire reloads from the source folder.
// A pinned adapter is never evicted, so while everything resident is pinned the budget may be
// exceeded; it is restored as leases are released. An adapter larger than the whole budget stays
// resident only while pinned. Weights copied out of a lease (shared_weights()) and kept past its
// release are not counted.
//
// Thread-safe: gRPC threads and the scheduler thread call it concurrently. Loads (the loader and
// the filesystem) run without the lock, blocking only the caller, so Acquire of a resident adapter
// and lease release never wait on disk. Callers that must not block (the step loop) should Acquire
// before the request reaches it. Leases must not outlive the registry.
#ifndef TESSERA_ADAPTERS_ADAPTER_REGISTRY_H_
#define TESSERA_ADAPTERS_ADAPTER_REGISTRY_H_

#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "adapters/adapter_access.h"
#include "adapters/adapter_info.h"
#include "adapters/adapter_lease.h"
#include "adapters/loaded_adapter.h"

namespace tessera {

struct AdapterRegistryOptions {
  // --adapter-dir: where LoadByName and lazy loading look; empty disables both.
  std::filesystem::path adapter_dir;
  // --adapter-host-cache-bytes: the host cache budget.
  int64_t host_cache_bytes = std::numeric_limits<int64_t>::max();
  // Time of last use and load latency; tests may drive it.
  std::function<absl::Time()> now = [] { return absl::Now(); };
};

struct AdapterLoadSpec {
  std::string name;
  std::filesystem::path
      path;           // the adapter folder, any path: only trusted callers (admin) pass one
  std::string owner;  // tenant, or "" for public
};

enum class UnloadMode : uint8_t {
  kRefuseIfInUse,  // FailedPrecondition while requests hold it or a load of it is under way
  kWait,           // new requests are refused (Unavailable) while in-flight ones finish
};

// Counters and gauges for tessera_adapter_* metrics.
struct AdapterRegistryStats {
  int64_t loads = 0;          // successful loads (explicit, lazy and after eviction)
  int64_t load_failures = 0;  // loads the loader refused
  int64_t evictions = 0;      // host -> disk for the budget
  int64_t load_count = 0;     // loader calls timed (successful or not)
  double load_seconds_sum = 0;
  // Entries per state (resident count per tier: host = num_host, device = num_device).
  int32_t num_on_disk = 0, num_loading = 0, num_host = 0, num_device = 0, num_failed = 0;
  int32_t num_pinned = 0;        // entries with leases
  int64_t host_bytes = 0;        // resident host bytes as the budget counts them
  int64_t host_cache_bytes = 0;  // the budget
};

class AdapterRegistry {
 public:
  AdapterRegistry(AdapterLoader loader, AdapterRegistryOptions options);
  ~AdapterRegistry();
  AdapterRegistry(const AdapterRegistry&) = delete;
  AdapterRegistry& operator=(const AdapterRegistry&) = delete;

  // Loads spec.path now (blocking the caller) and registers it as (owner, name), replacing a
  // previous version atomically. Waits for a load or unload of the same key under way. Either
  // registers the new version or changes nothing but the entry's last_error. InvalidArgument for
  // a bad name or a bad adapter (the loader's reason, after "adapter NAME: ").
  absl::StatusOr<AdapterInfo> Load(const AdapterLoadSpec& spec);
  // Load of adapter_dir/<name> (resolved by ResolveAdapterPath) for `owner`: a tenant loading its
  // own adapter by name. FailedPrecondition without an adapter dir.
  absl::StatusOr<AdapterInfo> LoadByName(absl::string_view name, const std::string& owner);

  // Pins the version of `name` that `tenant` would use now: its own, else the public one, else
  // (with an adapter dir) DIR/<name> loaded as public. Loads it first when not resident (blocking
  // the caller). NotFound "adapter NAME not found" when there is no such adapter for this tenant;
  // Unavailable while it is being unloaded; the load's error when loading fails.
  absl::StatusOr<AdapterLease> Acquire(absl::string_view name, const std::string& tenant);

  // Removes (owner, name). NotFound (as for a missing one) when the caller may not unload it.
  // kWait waits at most `timeout`, then DeadlineExceeded and the adapter stays registered.
  absl::Status Unload(const AdapterCaller& caller, const AdapterKey& key, UnloadMode mode,
                      absl::Duration timeout = absl::InfiniteDuration());

  // The entries the caller may list, ordered by name then owner.
  std::vector<AdapterInfo> List(const AdapterCaller& caller) const;

  // Changes the budget; evicts at once when it shrinks.
  void SetHostCacheBytes(int64_t bytes);
  AdapterRegistryStats Stats() const;

 private:
  friend class AdapterLease;

  struct ReplacedVersion {
    int64_t bytes = 0;
    int32_t pins = 0;
  };
  struct Entry {
    AdapterKey key;
    uint64_t id = 0;  // tells a re-registered key from the entry a waiter saw
    std::filesystem::path source;
    AdapterState state = AdapterState::kOnDisk;
    uint64_t version = 0;                        // current version; 0 before the first load
    std::shared_ptr<const LoraWeights> weights;  // set exactly in kHost
    std::string digest;
    int32_t rank = 0;
    int64_t bytes = 0;
    int32_t current_pins = 0;                      // leases on `version`
    std::map<uint64_t, ReplacedVersion> replaced;  // older versions still leased
    int32_t refcount = 0;                          // current_pins + the pins of `replaced`
    int64_t served = 0;
    absl::Time last_used = absl::InfinitePast();
    uint64_t lru_tick = 0;  // recency order for eviction
    absl::Status last_status;
    bool load_in_progress = false;
    uint64_t loads_finished = 0;  // lets waiters see that the load they waited for ended
    int32_t unloaders = 0;        // Unload(kWait) calls waiting on it
  };

  // Runs the loader on `path` without the lock; counts and times it.
  absl::StatusOr<LoadedAdapter> RunLoader(const AdapterKey& key, const std::filesystem::path& path)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Acquire's path for a known entry that is not resident: load it and pin the new version.
  absl::StatusOr<AdapterLease> LoadAndPinLocked(Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void InstallLocked(Entry& e, LoadedAdapter loaded) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  AdapterLease PinLocked(Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Unpin(const AdapterKey& key, uint64_t version) ABSL_LOCKS_EXCLUDED(mu_);
  void EvictOverBudgetLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EraseLocked(const AdapterKey& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Entries evictable now (kHost, no leases) are in lru_; call around every change to either.
  void LruRemove(Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LruAddIfEvictable(Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Entry* Find(const AdapterKey& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Entry* FindUsable(absl::string_view name, const std::string& tenant)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  AdapterInfo InfoLocked(const Entry& e) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const AdapterLoader loader_;
  const std::filesystem::path adapter_dir_;
  const std::function<absl::Time()> now_;

  mutable absl::Mutex mu_;
  absl::CondVar changed_;  // a load finished, an unload finished, or a refcount reached 0
  std::map<AdapterKey, std::unique_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
  std::set<std::pair<uint64_t, Entry*>> lru_ ABSL_GUARDED_BY(mu_);
  int64_t host_cache_bytes_ ABSL_GUARDED_BY(mu_);
  int64_t host_bytes_ ABSL_GUARDED_BY(mu_) = 0;      // current versions in kHost
  int64_t replaced_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // leased replaced versions
  uint64_t next_version_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_entry_id_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_tick_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t loads_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t load_failures_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t evictions_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t load_count_ ABSL_GUARDED_BY(mu_) = 0;
  double load_seconds_sum_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tessera

#endif  // TESSERA_ADAPTERS_ADAPTER_REGISTRY_H_
