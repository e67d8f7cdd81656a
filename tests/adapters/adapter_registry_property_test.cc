// Randomized property test of the registry's host cache and pins: over many seeds, random
// sequences of Load, Acquire, Release, Unload (refusing and waiting), budget changes and loader
// failures, checked after every step against what the test itself holds:
//   - a pinned adapter (one the test holds a lease on) is never evicted: it stays kHost on the
//     same version unless the step explicitly reloaded it;
//   - refcounts equal the leases held; a lease's weights never change under it;
//   - resident bytes = current versions in kHost + replaced versions still leased, and above the
//     budget only when nothing unpinned is resident;
//   - evictions follow recency: no unpinned resident adapter was used less recently than one the
//     step evicted;
//   - each operation's outcome is the one the rules predict.
// Single-threaded and seeded, so a failure names a repeatable seed and step.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "adapters/adapter_registry.h"
#include "tests/adapters/registry_test_util.h"

namespace tessera {
namespace {

using ::tessera::testing::FakeAdapterBytes;
using ::tessera::testing::FakeStamp;
using ::tessera::testing::kAdmin;
using ::tessera::testing::RegistryTest;

constexpr int kSeeds = 150;
constexpr int kSteps = 300;
const std::vector<std::string> kNames = {"n0", "n1", "n2", "n3", "n4", "n5"};
const std::vector<std::string> kOwners = {"", "ta", "tb"};
const std::vector<std::string> kTenants = {"ta", "tb", "tc"};

struct Held {
  AdapterLease lease;
  float stamp;
};

class RegistryPropertyTest : public RegistryTest {
 protected:
  int64_t Pick(int64_t lo, int64_t hi) {  // [lo, hi]
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }
  template <typename T>
  const T& PickOf(const std::vector<T>& xs) {
    return xs[Pick(0, static_cast<int64_t>(xs.size()) - 1)];
  }

  std::map<AdapterKey, AdapterInfo> Snapshot() {
    std::map<AdapterKey, AdapterInfo> out;
    for (AdapterInfo& i : registry_->List(kAdmin)) out[{i.owner, i.name}] = std::move(i);
    return out;
  }
  std::map<AdapterKey, int> Pins() const {
    std::map<AdapterKey, int> pins;
    for (const Held& h : held_) ++pins[h.lease.key()];
    return pins;
  }
  const AdapterInfo* Visible(const std::map<AdapterKey, AdapterInfo>& s, const std::string& name,
                             const std::string& tenant) {
    for (const AdapterKey& k : {AdapterKey{tenant, name}, AdapterKey{"", name}}) {
      if (auto it = s.find(k); it != s.end()) return &it->second;
    }
    return nullptr;
  }

  // One random operation; returns the key it explicitly reloaded, if any.
  std::optional<AdapterKey> Step(const std::map<AdapterKey, AdapterInfo>& before);
  void CheckInvariants(const std::map<AdapterKey, AdapterInfo>& before,
                       const std::optional<AdapterKey>& reloaded);

  std::mt19937_64 rng_;
  std::vector<Held> held_;
  std::set<std::string> failing_;
  std::map<AdapterKey, uint64_t> recency_;  // the test's own clock of last use per key
  uint64_t clock_ = 0;
  uint64_t max_version_ = 0;
  int64_t budget_ = 0;
  bool lazy_ = false;
  int loader_base_ = 0;  // loader calls made for earlier seeds
  // How often the interesting cases came up, so that the test shows it exercised them.
  int64_t evictions_seen_ = 0, over_budget_pinned_ = 0, replaced_leased_ = 0;
};

std::optional<AdapterKey> RegistryPropertyTest::Step(
    const std::map<AdapterKey, AdapterInfo>& before) {
  const std::map<AdapterKey, int> pins = Pins();
  const int64_t op = Pick(0, 99);
  if (op < 12) {  // explicit (re)load
    const AdapterKey key{PickOf(kOwners), PickOf(kNames)};
    absl::StatusOr<AdapterInfo> info = registry_->Load({key.name, Folder(key.name), key.owner});
    EXPECT_EQ(info.ok(), !failing_.count(key.name)) << info.status();
    if (!info.ok()) return std::nullopt;
    EXPECT_GT(info->version, max_version_);
    max_version_ = info->version;
    recency_[key] = ++clock_;
    return key;
  }
  if (op < 50) {  // a request takes an adapter
    const std::string name = PickOf(kNames);
    const std::string tenant = PickOf(kTenants);
    const AdapterInfo* visible = Visible(before, name, tenant);
    absl::StatusOr<AdapterLease> lease = registry_->Acquire(name, tenant);
    const bool resident = visible != nullptr && visible->state == AdapterState::kHost;
    if (visible == nullptr && !lazy_) {
      EXPECT_EQ(lease.status().code(), absl::StatusCode::kNotFound);
      return std::nullopt;
    }
    EXPECT_EQ(lease.ok(), resident || !failing_.count(name)) << lease.status();
    if (!lease.ok()) {
      EXPECT_EQ(lease.status().code(), absl::StatusCode::kInvalidArgument);
      return std::nullopt;
    }
    const AdapterKey expected = visible ? AdapterKey{visible->owner, name} : AdapterKey{"", name};
    EXPECT_EQ(lease->key(), expected);
    if (resident) {
      EXPECT_EQ(lease->version(), visible->version);
    }
    max_version_ = std::max(max_version_, lease->version());
    recency_[lease->key()] = ++clock_;
    const float stamp = FakeStamp(lease->weights());
    EXPECT_GE(stamp, 0);
    held_.push_back({*std::move(lease), stamp});
    return std::nullopt;
  }
  if (op < 78) {  // a request finishes
    if (held_.empty()) return std::nullopt;
    const size_t i = Pick(0, static_cast<int64_t>(held_.size()) - 1);
    EXPECT_EQ(FakeStamp(held_[i].lease.weights()), held_[i].stamp);
    recency_[held_[i].lease.key()] = ++clock_;
    held_[i].lease.Release();
    held_.erase(held_.begin() + static_cast<int64_t>(i));
    return std::nullopt;
  }
  if (op < 88) {  // unload, refusing or waiting (timeout 0: decides at once)
    const AdapterKey key{PickOf(kOwners), PickOf(kNames)};
    const bool wait = Pick(0, 1) == 1;
    const absl::Status s = registry_->Unload(
        kAdmin, key, wait ? UnloadMode::kWait : UnloadMode::kRefuseIfInUse, absl::ZeroDuration());
    if (!before.count(key)) {
      EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
    } else if (pins.count(key)) {
      EXPECT_EQ(s.code(),
                wait ? absl::StatusCode::kDeadlineExceeded : absl::StatusCode::kFailedPrecondition);
    } else {
      EXPECT_TRUE(s.ok()) << s;
      recency_.erase(key);
    }
    return std::nullopt;
  }
  if (op < 94) {  // the operator changes the budget
    const int64_t unit = FakeAdapterBytes(2);
    budget_ = PickOf(std::vector<int64_t>{0, unit, 3 * unit, 8 * unit, 20 * unit,
                                          std::numeric_limits<int64_t>::max()});
    registry_->SetHostCacheBytes(budget_);
    return std::nullopt;
  }
  if (op < 97) {  // a folder goes bad or is fixed
    const std::string name = PickOf(kNames);
    if (failing_.count(name)) {
      failing_.erase(name);
      loader_.ClearFailure(name);
    } else {
      failing_.insert(name);
      loader_.SetFailure(name, absl::InvalidArgumentError("corrupt"));
    }
    return std::nullopt;
  }
  loader_.SetRank(PickOf(kNames), static_cast<int32_t>(PickOf(std::vector<int64_t>{1, 2, 4, 8})));
  return std::nullopt;
}

void RegistryPropertyTest::CheckInvariants(const std::map<AdapterKey, AdapterInfo>& before,
                                           const std::optional<AdapterKey>& reloaded) {
  const std::map<AdapterKey, AdapterInfo> after = Snapshot();
  const std::map<AdapterKey, int> pins = Pins();
  const AdapterRegistryStats stats = registry_->Stats();

  int64_t resident = 0;
  int32_t num_host = 0, num_pinned = 0;
  for (const auto& [key, info] : after) {
    const int expected_pins = pins.count(key) ? pins.at(key) : 0;
    EXPECT_EQ(info.refcount, expected_pins) << key.owner << "/" << key.name;
    if (info.state == AdapterState::kHost) {
      resident += info.bytes;
      ++num_host;
      EXPECT_EQ(info.bytes, FakeAdapterBytes(info.rank));
    }
    if (expected_pins > 0) {
      ++num_pinned;
      // Pinned: never evicted, and on the same version unless this step reloaded it.
      EXPECT_EQ(info.state, AdapterState::kHost) << key.name;
      if (before.count(key) && before.at(key).refcount > 0 && key != reloaded) {
        EXPECT_EQ(info.version, before.at(key).version) << key.name;
      }
    }
  }
  for (const auto& [key, n] : pins) EXPECT_TRUE(after.count(key)) << "leased but gone";
  // Replaced versions still leased count, once per version.
  std::set<std::pair<AdapterKey, uint64_t>> replaced;
  for (const Held& h : held_) {
    const AdapterKey& key = h.lease.key();
    if (h.lease.version() != after.at(key).version &&
        replaced.insert({key, h.lease.version()}).second) {
      resident += FakeAdapterBytes(h.lease.rank());
    }
  }
  EXPECT_EQ(stats.host_bytes, resident);
  if (!replaced.empty()) ++replaced_leased_;
  EXPECT_EQ(stats.num_host, num_host);
  EXPECT_EQ(stats.num_pinned, num_pinned);
  EXPECT_EQ(stats.host_cache_bytes, budget_);
  EXPECT_EQ(stats.loads + stats.load_failures, loader_.total_started() - loader_base_);

  // Over budget only when nothing evictable is left.
  std::vector<AdapterKey> evictable;
  for (const auto& [key, info] : after) {
    if (info.state == AdapterState::kHost && info.refcount == 0) evictable.push_back(key);
  }
  if (stats.host_bytes > budget_) {
    EXPECT_TRUE(evictable.empty()) << stats.host_bytes << " > " << budget_;
    ++over_budget_pinned_;
  }
  // LRU: what this step evicted was used no later than anything evictable it kept.
  for (const auto& [key, info] : before) {
    auto now = after.find(key);
    const bool evicted = info.state == AdapterState::kHost && now != after.end() &&
                         now->second.state == AdapterState::kOnDisk;
    if (!evicted) continue;
    ++evictions_seen_;
    for (const AdapterKey& kept : evictable) {
      EXPECT_GT(recency_[kept], recency_[key]) << "kept " << kept.name << " evicted " << key.name;
    }
  }
}

TEST_F(RegistryPropertyTest, RandomOperationsKeepPinsCountsAndBudget) {
  for (int seed = 0; seed < kSeeds; ++seed) {
    rng_.seed(seed);
    held_.clear();
    failing_.clear();
    recency_.clear();
    clock_ = 0;
    max_version_ = 0;
    for (const std::string& name : kNames) {
      loader_.ClearFailure(name);
      loader_.SetRank(name, static_cast<int32_t>(PickOf(std::vector<int64_t>{1, 2, 4})));
    }
    budget_ = FakeAdapterBytes(2) * Pick(0, 6);
    registry_.reset();
    loader_base_ = loader_.total_started();
    lazy_ = Pick(0, 1) == 1;
    Make(lazy_, budget_);
    // Lazy or not, registered or not: every name has a folder.
    for (const std::string& name : kNames) Folder(name);
    for (int step = 0; step < kSteps; ++step) {
      SCOPED_TRACE(absl::StrCat("seed ", seed, " step ", step));
      const std::map<AdapterKey, AdapterInfo> before = Snapshot();
      const std::optional<AdapterKey> reloaded = Step(before);
      CheckInvariants(before, reloaded);
      if (::testing::Test::HasFailure()) return;
    }
    held_.clear();
    // Once every lease is back, the budget holds.
    const AdapterRegistryStats stats = registry_->Stats();
    EXPECT_EQ(stats.num_pinned, 0);
    EXPECT_LE(stats.host_bytes, budget_) << "seed " << seed;
  }
  EXPECT_GT(evictions_seen_, 100);
  EXPECT_GT(over_budget_pinned_, 100);
  EXPECT_GT(replaced_leased_, 100);
  std::printf(
      "steps with evictions %lld, over budget while pinned %lld, replaced versions leased "
      "%lld\n",
      static_cast<long long>(evictions_seen_), static_cast<long long>(over_budget_pinned_),
      static_cast<long long>(replaced_leased_));
}

}  // namespace
}  // namespace tessera
