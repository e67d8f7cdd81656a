#include "adapters/adapter_registry.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "adapters/adapter_error.h"
#include "adapters/adapter_name.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;

// The loader's status with the adapter named in front, code and detail kept.
absl::Status Annotate(const absl::Status& s, absl::string_view name) {
  return WithMessage(s, absl::StrCat("adapter ", name, ": ", s.message()));
}

}  // namespace

AdapterRegistry::AdapterRegistry(AdapterLoader loader, AdapterRegistryOptions options)
    : loader_(std::move(loader)),
      adapter_dir_(std::move(options.adapter_dir)),
      now_(std::move(options.now)),
      host_cache_bytes_(options.host_cache_bytes) {}

AdapterRegistry::~AdapterRegistry() {
  absl::MutexLock lock(&mu_);
  for (const auto& [key, e] : entries_) {
    if (e->refcount > 0 || e->load_in_progress) {
      // A lease or a load would touch freed memory: a bug in the caller, not an input error.
      std::fprintf(stderr, "AdapterRegistry destroyed while adapter %s is %s\n", key.name.c_str(),
                   e->refcount > 0 ? "leased" : "loading");
      std::abort();
    }
  }
}

absl::StatusOr<AdapterInfo> AdapterRegistry::Load(const AdapterLoadSpec& spec) {
  if (absl::Status s = ValidateAdapterName(spec.name); !s.ok()) return s;
  const AdapterKey key{spec.owner, spec.name};
  absl::MutexLock lock(&mu_);
  // One load or unload of a key at a time, so that loads take effect in the order they began.
  for (Entry* e = Find(key); e != nullptr && (e->load_in_progress || e->unloaders > 0);
       e = Find(key)) {
    changed_.Wait(&mu_);
  }
  Entry* e = Find(key);
  const bool created = e == nullptr;
  if (created) {
    auto entry = std::make_unique<Entry>();
    entry->key = key;
    entry->id = ++next_entry_id_;
    entry->source = spec.path;
    e = entry.get();
    entries_.emplace(key, std::move(entry));
  }
  const bool was_failed = e->state == AdapterState::kFailed;
  e->load_in_progress = true;
  if (e->state != AdapterState::kHost) e->state = AdapterState::kLoading;
  absl::StatusOr<LoadedAdapter> loaded = RunLoader(key, spec.path);
  e = Find(key);  // still there: Unload waits for loads in progress
  e->load_in_progress = false;
  ++e->loads_finished;
  changed_.SignalAll();
  if (!loaded.ok()) {
    if (created) {
      EraseLocked(key);  // a failed Load of a new name registers nothing
    } else {
      e->last_status = loaded.status();
      if (e->state == AdapterState::kLoading) {
        e->state = was_failed ? AdapterState::kFailed : AdapterState::kOnDisk;
      }
    }
    return loaded.status();
  }
  e->source = spec.path;
  InstallLocked(*e, *std::move(loaded));
  EvictOverBudgetLocked();
  return InfoLocked(*e);
}

absl::StatusOr<AdapterInfo> AdapterRegistry::LoadByName(absl::string_view name,
                                                        const std::string& owner) {
  if (adapter_dir_.empty()) {
    return absl::FailedPreconditionError(
        "adapters can be loaded by name only when the daemon has an --adapter-dir");
  }
  absl::StatusOr<fs::path> path = ResolveAdapterPath(adapter_dir_, name);
  if (!path.ok()) return path.status();
  return Load({std::string(name), *std::move(path), owner});
}

absl::StatusOr<AdapterLease> AdapterRegistry::Acquire(absl::string_view name,
                                                      const std::string& tenant) {
  if (absl::Status s = ValidateAdapterName(name); !s.ok()) return s;
  std::optional<absl::StatusOr<fs::path>> resolved;  // DIR/<name>, looked up once
  absl::MutexLock lock(&mu_);
  for (;;) {
    Entry* e = FindUsable(name, tenant);
    if (e == nullptr) {
      if (adapter_dir_.empty()) return AdapterNotFoundError(name);
      if (!resolved.has_value()) {
        // The filesystem is asked without the lock; the loop looks again afterwards, since
        // another caller may have registered the name meanwhile.
        mu_.Unlock();
        resolved = ResolveAdapterPath(adapter_dir_, name);
        mu_.Lock();
        continue;
      }
      if (!resolved->ok()) return resolved->status();
      // First use: DIR/<name> becomes a public adapter (see the header).
      auto entry = std::make_unique<Entry>();
      entry->key = AdapterKey{"", std::string(name)};
      entry->id = ++next_entry_id_;
      entry->source = **resolved;
      e = entry.get();
      entries_.emplace(e->key, std::move(entry));
      return LoadAndPinLocked(*e);
    }
    if (e->unloaders > 0) {
      return absl::UnavailableError(absl::StrCat("adapter ", name, " is being unloaded"));
    }
    if (e->state == AdapterState::kHost) return PinLocked(*e);
    if (!e->load_in_progress) return LoadAndPinLocked(*e);
    // Another caller is loading it: wait for that load and share its outcome rather than load
    // a bad adapter once per waiting request.
    const AdapterKey key = e->key;
    const uint64_t id = e->id;
    const uint64_t seen = e->loads_finished;
    auto same_load = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      const Entry* w = Find(key);
      return w != nullptr && w->id == id && w->loads_finished == seen;
    };
    while (same_load()) changed_.Wait(&mu_);
    const Entry* w = Find(key);
    if (w != nullptr && w->id == id && w->state == AdapterState::kFailed && w->unloaders == 0) {
      return w->last_status;
    }
    // Otherwise look again: it is resident now, or was evicted or unloaded meanwhile.
  }
}

absl::Status AdapterRegistry::Unload(const AdapterCaller& caller, const AdapterKey& key,
                                     UnloadMode mode, absl::Duration timeout) {
  if (absl::Status s = ValidateAdapterName(key.name); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  Entry* e = Find(key);
  if (e == nullptr || !CanUnloadAdapter(caller, key)) return AdapterNotFoundError(key.name);
  if (mode == UnloadMode::kRefuseIfInUse) {
    if (e->refcount > 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("adapter ", key.name, " is in use by ", e->refcount, " requests"));
    }
    if (e->load_in_progress) {
      return absl::FailedPreconditionError(absl::StrCat("adapter ", key.name, " is loading"));
    }
    EraseLocked(key);
    return absl::OkStatus();
  }
  const uint64_t id = e->id;
  ++e->unloaders;  // refuses new requests from now on
  const absl::Time deadline = absl::Now() + timeout;
  for (bool timed_out = false;; timed_out = changed_.WaitWithDeadline(&mu_, deadline)) {
    e = Find(key);
    if (e == nullptr || e->id != id) return absl::OkStatus();  // another Unload finished it
    if (e->refcount == 0 && !e->load_in_progress) {
      EraseLocked(key);
      return absl::OkStatus();
    }
    if (timed_out) {
      --e->unloaders;
      changed_.SignalAll();  // a Load waiting for this unload may go ahead
      return absl::DeadlineExceededError(absl::StrCat("adapter ", key.name, " is still in use by ",
                                                      e->refcount, " requests after ",
                                                      absl::FormatDuration(timeout)));
    }
  }
}

std::vector<AdapterInfo> AdapterRegistry::List(const AdapterCaller& caller) const {
  std::vector<AdapterInfo> out;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, e] : entries_) {
      if (CanListAdapter(caller, key)) out.push_back(InfoLocked(*e));
    }
  }
  std::sort(out.begin(), out.end(), [](const AdapterInfo& a, const AdapterInfo& b) {
    return std::tie(a.name, a.owner) < std::tie(b.name, b.owner);
  });
  return out;
}

void AdapterRegistry::SetHostCacheBytes(int64_t bytes) {
  absl::MutexLock lock(&mu_);
  host_cache_bytes_ = bytes;
  EvictOverBudgetLocked();
}

AdapterRegistryStats AdapterRegistry::Stats() const {
  absl::MutexLock lock(&mu_);
  AdapterRegistryStats s;
  s.loads = loads_;
  s.load_failures = load_failures_;
  s.evictions = evictions_;
  s.load_count = load_count_;
  s.load_seconds_sum = load_seconds_sum_;
  for (const auto& [key, e] : entries_) {
    switch (e->state) {
      case AdapterState::kOnDisk:
        ++s.num_on_disk;
        break;
      case AdapterState::kLoading:
        ++s.num_loading;
        break;
      case AdapterState::kHost:
        ++s.num_host;
        break;
      case AdapterState::kDevice:
        ++s.num_device;
        break;
      case AdapterState::kFailed:
        ++s.num_failed;
        break;
    }
    if (e->refcount > 0) ++s.num_pinned;
  }
  s.host_bytes = host_bytes_ + replaced_bytes_;
  s.host_cache_bytes = host_cache_bytes_;
  return s;
}

absl::StatusOr<LoadedAdapter> AdapterRegistry::RunLoader(const AdapterKey& key,
                                                         const fs::path& path) {
  mu_.Unlock();
  const absl::Time start = now_();
  absl::StatusOr<LoadedAdapter> loaded;
  try {
    loaded = loader_(path);
  } catch (const std::exception& ex) {
    // The registry's lock and load_in_progress must survive a throwing loader.
    // what() may hold paths (std::filesystem_error): detail only.
    loaded = WithAdapterErrorDetail(absl::InternalError("loading failed unexpectedly"),
                                    absl::StrCat("the loader threw: ", ex.what()));
  }
  if (loaded.ok() && loaded->weights == nullptr) {
    loaded = absl::InternalError("the loader returned no weights");
  }
  const absl::Duration took = now_() - start;
  mu_.Lock();
  ++load_count_;
  load_seconds_sum_ += absl::ToDoubleSeconds(took);
  if (!loaded.ok()) {
    ++load_failures_;
    return Annotate(loaded.status(), key.name);
  }
  ++loads_;
  return loaded;
}

absl::StatusOr<AdapterLease> AdapterRegistry::LoadAndPinLocked(Entry& entry) {
  const AdapterKey key = entry.key;
  const fs::path source = entry.source;
  entry.load_in_progress = true;
  entry.state = AdapterState::kLoading;
  absl::StatusOr<LoadedAdapter> loaded = RunLoader(key, source);
  Entry& e = *Find(key);  // still there: Unload waits for loads in progress
  e.load_in_progress = false;
  ++e.loads_finished;
  changed_.SignalAll();
  if (!loaded.ok()) {
    e.state = AdapterState::kFailed;
    e.last_status = loaded.status();
    return loaded.status();
  }
  InstallLocked(e, *std::move(loaded));
  AdapterLease lease = PinLocked(e);  // before evicting, so that the new version stays
  EvictOverBudgetLocked();
  return lease;
}

void AdapterRegistry::InstallLocked(Entry& e, LoadedAdapter loaded) {
  LruRemove(e);
  if (e.state == AdapterState::kHost) host_bytes_ -= e.bytes;
  if (e.current_pins > 0) {
    // Leases on the old version keep its weights alive; keep counting their bytes until the
    // last of them goes.
    e.replaced[e.version] = ReplacedVersion{e.bytes, e.current_pins};
    replaced_bytes_ += e.bytes;
    e.current_pins = 0;
  }
  e.version = ++next_version_;
  e.weights = std::move(loaded.weights);
  e.digest = std::move(loaded.digest);
  e.rank = loaded.rank;
  e.bytes = loaded.bytes;
  e.state = AdapterState::kHost;
  host_bytes_ += e.bytes;
  e.last_status = absl::OkStatus();
  e.lru_tick = ++next_tick_;
  LruAddIfEvictable(e);
}

AdapterLease AdapterRegistry::PinLocked(Entry& e) {
  LruRemove(e);
  ++e.current_pins;
  ++e.refcount;
  ++e.served;
  e.last_used = now_();
  e.lru_tick = ++next_tick_;
  return AdapterLease(this, e.key, e.version, e.weights, e.digest, e.rank);
}

void AdapterRegistry::Unpin(const AdapterKey& key, uint64_t version) {
  absl::MutexLock lock(&mu_);
  Entry* e = Find(key);
  if (e == nullptr) {
    std::fprintf(stderr, "AdapterLease released for adapter %s, which is not registered\n",
                 key.name.c_str());
    std::abort();
  }
  LruRemove(*e);
  if (version == e->version) {
    --e->current_pins;
  } else if (auto it = e->replaced.find(version); it != e->replaced.end()) {
    if (--it->second.pins == 0) {
      replaced_bytes_ -= it->second.bytes;
      e->replaced.erase(it);
    }
  }
  --e->refcount;
  e->last_used = now_();
  e->lru_tick = ++next_tick_;
  LruAddIfEvictable(*e);
  if (e->refcount == 0) changed_.SignalAll();
  EvictOverBudgetLocked();
}

void AdapterRegistry::EvictOverBudgetLocked() {
  while (host_bytes_ + replaced_bytes_ > host_cache_bytes_ && !lru_.empty()) {
    Entry* e = lru_.begin()->second;
    lru_.erase(lru_.begin());
    e->weights.reset();
    host_bytes_ -= e->bytes;
    // An explicit reload may be under way; Acquire then waits for it rather than loading twice.
    e->state = e->load_in_progress ? AdapterState::kLoading : AdapterState::kOnDisk;
    ++evictions_;
  }
}

void AdapterRegistry::EraseLocked(const AdapterKey& key) {
  auto it = entries_.find(key);
  Entry& e = *it->second;
  LruRemove(e);
  if (e.state == AdapterState::kHost) host_bytes_ -= e.bytes;
  entries_.erase(it);
  changed_.SignalAll();
}

void AdapterRegistry::LruRemove(Entry& e) { lru_.erase({e.lru_tick, &e}); }

void AdapterRegistry::LruAddIfEvictable(Entry& e) {
  if (e.state == AdapterState::kHost && e.refcount == 0) lru_.insert({e.lru_tick, &e});
}

AdapterRegistry::Entry* AdapterRegistry::Find(const AdapterKey& key) {
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : it->second.get();
}

AdapterRegistry::Entry* AdapterRegistry::FindUsable(absl::string_view name,
                                                    const std::string& tenant) {
  if (!tenant.empty()) {
    if (Entry* e = Find(AdapterKey{tenant, std::string(name)})) return e;
  }
  return Find(AdapterKey{"", std::string(name)});
}

AdapterInfo AdapterRegistry::InfoLocked(const Entry& e) const {
  AdapterInfo info;
  info.name = e.key.name;
  info.owner = e.key.owner;
  info.source = e.source.string();
  info.digest = e.digest;
  info.state = e.state;
  info.tier = AdapterTierOf(e.state);
  info.reloading = e.load_in_progress && e.state == AdapterState::kHost;
  info.rank = e.rank;
  info.bytes = e.bytes;
  info.refcount = e.refcount;
  info.served = e.served;
  info.version = e.version;
  info.last_used = e.last_used;
  info.last_error = e.last_status.ok() ? "" : std::string(e.last_status.message());
  return info;
}

}  // namespace tessera
