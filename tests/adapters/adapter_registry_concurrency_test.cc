// AdapterRegistry under several threads: reloads while requests acquire and hold leases, lazy
// loads shared by concurrent first users, traffic through a small host cache, and unloading while
// requests keep coming. Assertions are about outcomes, never about timing.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "adapters/adapter_registry.h"
#include "tests/adapters/registry_test_util.h"

namespace tessera {
namespace {

using ::tessera::testing::FakeAdapterBytes;
using ::tessera::testing::FakeStamp;
using ::tessera::testing::kAdmin;
using ConcurrencyTest = ::tessera::testing::RegistryTest;

// A lease with what it showed when taken, to check that it still shows it when given back.
struct HeldLease {
  AdapterLease lease;
  float stamp;
};

TEST_F(ConcurrencyTest, ReloadIsAtomicForConcurrentRequests) {
  Make(false);
  const uint64_t first = MustLoad("hot", "").version;

  std::atomic<bool> stop{false};
  std::atomic<int> torn{0}, failed{0}, went_back{0}, changed_under_lease{0};
  std::atomic<int64_t> acquired{0};
  std::mutex seen_mu;
  std::set<uint64_t> seen_versions;
  auto request_loop = [&](int seed) {
    std::mt19937 rng(seed);
    std::deque<HeldLease> held;  // some leases live across reloads
    uint64_t last_version = 0;
    for (int i = 0; !stop.load() || i < 200; ++i) {
      absl::StatusOr<AdapterLease> lease = registry_->Acquire("hot", "tenant-a");
      if (!lease.ok()) {
        ++failed;
        continue;
      }
      ++acquired;
      const float stamp = FakeStamp(lease->weights());
      if (stamp < 0) ++torn;
      if (lease->version() < last_version) ++went_back;
      last_version = lease->version();
      {
        std::lock_guard<std::mutex> l(seen_mu);
        seen_versions.insert(lease->version());
      }
      held.push_back({*std::move(lease), stamp});
      while (held.size() > static_cast<size_t>(rng() % 6)) {
        if (FakeStamp(held.front().lease.weights()) != held.front().stamp) ++changed_under_lease;
        held.pop_front();
      }
    }
    for (HeldLease& h : held) {
      if (FakeStamp(h.lease.weights()) != h.stamp) ++changed_under_lease;
    }
  };
  std::vector<std::thread> requests;
  for (int t = 0; t < 6; ++t) requests.emplace_back(request_loop, t);

  // Two admins reload concurrently; each reload's version is new and larger than the last.
  std::mutex loaded_mu;
  std::vector<uint64_t> loaded_versions{first};
  auto reload_loop = [&] {
    for (int i = 0; i < 40; ++i) {
      absl::StatusOr<AdapterInfo> info = registry_->Load({"hot", Folder("hot"), ""});
      ASSERT_TRUE(info.ok()) << info.status();
      std::lock_guard<std::mutex> l(loaded_mu);
      loaded_versions.push_back(info->version);
    }
  };
  std::thread admin1(reload_loop), admin2(reload_loop);
  admin1.join();
  admin2.join();
  stop = true;
  for (std::thread& t : requests) t.join();

  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(torn.load(), 0);
  EXPECT_EQ(went_back.load(), 0);
  EXPECT_EQ(changed_under_lease.load(), 0);
  std::sort(loaded_versions.begin(), loaded_versions.end());
  EXPECT_EQ(std::adjacent_find(loaded_versions.begin(), loaded_versions.end()),
            loaded_versions.end());
  for (uint64_t v : seen_versions) {
    EXPECT_TRUE(std::binary_search(loaded_versions.begin(), loaded_versions.end(), v)) << v;
  }
  const AdapterInfo info = *Listed("hot", "");
  EXPECT_EQ(info.version, loaded_versions.back());  // the last load to finish is the newest
  EXPECT_EQ(info.refcount, 0);
  EXPECT_EQ(info.served, acquired.load());
  // Every replaced version was given back: only the current one is resident.
  EXPECT_EQ(registry_->Stats().host_bytes, info.bytes);
}

TEST_F(ConcurrencyTest, ConcurrentFirstUsesShareOneLazyLoad) {
  Make(/*lazy=*/true);
  Folder("lazy");
  loader_.Hold("lazy");
  constexpr int kThreads = 8;
  std::vector<absl::StatusOr<AdapterLease>> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back(
        [&, t] { results[t] = registry_->Acquire("lazy", "tenant-" + std::to_string(t)); });
  }
  loader_.AwaitStarted("lazy", 1);
  // Give the other threads a moment to queue behind the load (not needed for correctness).
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(Listed("lazy", "")->state, AdapterState::kLoading);
  loader_.Open("lazy");
  for (std::thread& t : threads) t.join();

  EXPECT_EQ(loader_.started("lazy"), 1);
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->version(), results[0]->version());
  }
  const AdapterInfo info = *Listed("lazy", "");
  EXPECT_EQ(info.refcount, kThreads);
  EXPECT_EQ(info.served, kThreads);
}

TEST_F(ConcurrencyTest, WaitersOfAFailedLoadGetItsError) {
  Make(true);
  Folder("bad");
  loader_.SetFailure("bad", absl::InvalidArgumentError("hostile safetensors header"));
  loader_.Hold("bad");
  constexpr int kThreads = 6;
  std::vector<absl::Status> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] { results[t] = registry_->Acquire("bad", "t").status(); });
  }
  loader_.AwaitStarted("bad", 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  loader_.Open("bad");
  for (std::thread& t : threads) t.join();
  for (const absl::Status& s : results) {
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(s.message(), "adapter bad: hostile safetensors header");
  }
  EXPECT_LE(loader_.started("bad"), kThreads);
  EXPECT_EQ(Listed("bad", "")->state, AdapterState::kFailed);
}

TEST_F(ConcurrencyTest, TrafficThroughASmallCacheNeverFails) {
  // Room for two of five adapters: requests keep evicting and reloading each other's adapters,
  // while an admin reloads one of them and loads and unloads another.
  Make(/*lazy=*/true, /*budget=*/2 * FakeAdapterBytes(2));
  for (const char* name : {"a0", "a1", "a2", "a3", "side"}) Folder(name);
  std::atomic<bool> stop{false};
  std::atomic<int> failed{0}, torn{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; !stop.load() || i < 200; ++i) {
        const std::string name = "a" + std::to_string(rng() % 4);
        absl::StatusOr<AdapterLease> lease = registry_->Acquire(name, "t");
        if (!lease.ok()) {
          ADD_FAILURE() << lease.status();
          ++failed;
          continue;
        }
        if (FakeStamp(lease->weights()) < 0) ++torn;
      }
    });
  }
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(registry_->Load({"a0", Folder("a0"), ""}).ok());
    ASSERT_TRUE(registry_->Load({"side", Folder("side"), "tenant-x"}).ok());
    ASSERT_TRUE(registry_->Unload(kAdmin, {"tenant-x", "side"}, UnloadMode::kWait).ok());
  }
  stop = true;
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(torn.load(), 0);
  const AdapterRegistryStats stats = registry_->Stats();
  EXPECT_EQ(stats.num_pinned, 0);
  EXPECT_LE(stats.host_bytes, stats.host_cache_bytes);
  EXPECT_GT(stats.evictions, 0);
  for (const AdapterInfo& i : registry_->List(kAdmin)) EXPECT_EQ(i.refcount, 0) << i.name;
}

TEST_F(ConcurrencyTest, UnloadWaitFinishesUnderSteadyTraffic) {
  Make(false);
  MustLoad("x", "");
  std::atomic<bool> unloading_done{false};
  std::atomic<int> unexpected{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      while (!unloading_done.load()) {
        absl::StatusOr<AdapterLease> lease = registry_->Acquire("x", "t");
        if (lease.ok()) continue;
        // Refused once the unload began, missing once it finished.
        if (lease.status().code() != absl::StatusCode::kUnavailable &&
            lease.status().code() != absl::StatusCode::kNotFound) {
          ++unexpected;
        }
      }
    });
  }
  while (Listed("x", "")->served < 100) std::this_thread::yield();
  EXPECT_TRUE(registry_->Unload(kAdmin, {"", "x"}, UnloadMode::kWait).ok());
  unloading_done = true;
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(unexpected.load(), 0);
  EXPECT_FALSE(Listed("x", "").has_value());
}

}  // namespace
}  // namespace tessera
