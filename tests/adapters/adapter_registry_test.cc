// AdapterRegistry on one thread: loading, leases and versions, failures, lazy loading, unloading,
// the host cache and its counters. Concurrency, isolation and the eviction property test have
// their own files.
#include "adapters/adapter_registry.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "adapters/adapter_name.h"
#include "tests/adapters/registry_test_util.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;
using ::tessera::testing::FakeAdapterBytes;
using ::tessera::testing::FakeStamp;
using ::tessera::testing::kAdmin;
using ::tessera::testing::kTenantA;
using RegistryBasicsTest = ::tessera::testing::RegistryTest;

TEST_F(RegistryBasicsTest, LoadThenAcquirePinsTheVersion) {
  Make(/*lazy=*/false);
  loader_.SetRank("sql", 8);
  const AdapterInfo info = MustLoad("sql", "");
  EXPECT_EQ(info.state, AdapterState::kHost);
  EXPECT_EQ(info.tier, AdapterTier::kHost);
  EXPECT_EQ(info.rank, 8);
  EXPECT_EQ(info.bytes, FakeAdapterBytes(8));
  EXPECT_GT(info.version, 0u);
  EXPECT_EQ(info.refcount, 0);

  absl::StatusOr<AdapterLease> lease = registry_->Acquire("sql", "tenant-a");
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_TRUE(lease->held());
  EXPECT_EQ(lease->version(), info.version);
  EXPECT_EQ(lease->digest(), info.digest);
  EXPECT_EQ(lease->rank(), 8);
  EXPECT_EQ(lease->name(), "sql");
  EXPECT_GT(FakeStamp(lease->weights()), 0);
  EXPECT_EQ(Listed("sql", "")->refcount, 1);
  EXPECT_EQ(Listed("sql", "")->served, 1);

  AdapterLease moved = *std::move(lease);
  EXPECT_EQ(Listed("sql", "")->refcount, 1);
  moved.Release();
  EXPECT_FALSE(moved.held());
  moved.Release();  // idempotent
  EXPECT_EQ(Listed("sql", "")->refcount, 0);
  EXPECT_EQ(Listed("sql", "")->served, 1);
  EXPECT_EQ(loader_.started("sql"), 1);
}

TEST_F(RegistryBasicsTest, MoveAssignmentReleasesTheOverwrittenLease) {
  Make(false);
  MustLoad("x", "");
  MustLoad("y", "");
  AdapterLease a = *registry_->Acquire("x", "t");
  AdapterLease b = *registry_->Acquire("y", "t");
  a = std::move(b);
  EXPECT_EQ(Listed("x", "")->refcount, 0);
  EXPECT_EQ(Listed("y", "")->refcount, 1);
  EXPECT_EQ(a.name(), "y");
}

TEST_F(RegistryBasicsTest, ReloadSwapsVersionsAndOldLeasesKeepTheirWeights) {
  Make(false);
  const AdapterInfo v1 = MustLoad("sql", "");
  AdapterLease old_lease = *registry_->Acquire("sql", "t");
  const float old_stamp = FakeStamp(old_lease.weights());

  const AdapterInfo v2 = MustLoad("sql", "");
  EXPECT_GT(v2.version, v1.version);
  EXPECT_NE(v2.digest, v1.digest);
  EXPECT_EQ(v2.refcount, 1);  // the old lease still counts against unloading and eviction

  AdapterLease new_lease = *registry_->Acquire("sql", "t");
  EXPECT_EQ(new_lease.version(), v2.version);
  EXPECT_EQ(old_lease.version(), v1.version);
  EXPECT_EQ(FakeStamp(old_lease.weights()), old_stamp);
  EXPECT_NE(FakeStamp(new_lease.weights()), old_stamp);
  // Both versions are resident while the old one is leased.
  EXPECT_EQ(registry_->Stats().host_bytes, 2 * v1.bytes);
  old_lease.Release();
  EXPECT_EQ(registry_->Stats().host_bytes, v1.bytes);
  EXPECT_EQ(Listed("sql", "")->refcount, 1);
}

TEST_F(RegistryBasicsTest, InvalidNamesAreRefused) {
  Make(true);
  Folder("ok");
  for (const char* name : {"", "..", "../ok", "a/b", "/etc"}) {
    EXPECT_EQ(registry_->Acquire(name, "t").status().code(), absl::StatusCode::kInvalidArgument)
        << name;
    EXPECT_EQ(registry_->Load({name, Folder("ok"), ""}).status().code(),
              absl::StatusCode::kInvalidArgument)
        << name;
    EXPECT_EQ(registry_->Unload(kAdmin, {"", name}, UnloadMode::kRefuseIfInUse).code(),
              absl::StatusCode::kInvalidArgument)
        << name;
  }
  EXPECT_EQ(loader_.total_started(), 0);
}

TEST_F(RegistryBasicsTest, FailedLoadOfANewNameRegistersNothing) {
  Make(false);
  loader_.SetFailure("bad", absl::InvalidArgumentError("adapter_config.json: peft_type is DORA"));
  absl::StatusOr<AdapterInfo> info = registry_->Load({"bad", Folder("bad"), ""});
  EXPECT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(info.status().message(), "adapter bad: adapter_config.json: peft_type is DORA");
  EXPECT_FALSE(Listed("bad", "").has_value());
  EXPECT_EQ(registry_->Acquire("bad", "t").status(), AdapterNotFoundError("bad"));
  EXPECT_EQ(registry_->Stats().load_failures, 1);
}

TEST_F(RegistryBasicsTest, FailedReloadKeepsTheCurrentVersionServing) {
  Make(false);
  const AdapterInfo v1 = MustLoad("sql", "");
  loader_.SetFailure("broken", absl::InvalidArgumentError("missing tensor"));
  absl::StatusOr<AdapterInfo> info = registry_->Load({"sql", Folder("broken"), ""});
  EXPECT_EQ(info.status().code(), absl::StatusCode::kInvalidArgument);
  const AdapterInfo now = *Listed("sql", "");
  EXPECT_EQ(now.state, AdapterState::kHost);
  EXPECT_EQ(now.version, v1.version);
  EXPECT_EQ(now.source, Folder("sql").string());
  EXPECT_EQ(now.last_error, "adapter sql: missing tensor");
  EXPECT_EQ(registry_->Acquire("sql", "t")->version(), v1.version);
}

TEST_F(RegistryBasicsTest, LoaderBugsBecomeInternalErrors) {
  AdapterRegistryOptions options;
  int calls = 0;
  AdapterRegistry registry(
      [&](const fs::path&) -> absl::StatusOr<LoadedAdapter> {
        if (++calls == 1) throw std::runtime_error("boom");
        return LoadedAdapter{};  // no weights
      },
      options);
  EXPECT_EQ(registry.Load({"a", Folder("a"), ""}).status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(registry.Load({"a", Folder("a"), ""}).status().code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(registry.List(kAdmin).empty());
}

TEST_F(RegistryBasicsTest, LazyLoadMakesAPublicAdapterFromTheDirectory) {
  Make(/*lazy=*/true);
  Folder("sql");
  absl::StatusOr<AdapterLease> lease = registry_->Acquire("sql", "tenant-a");
  ASSERT_TRUE(lease.ok()) << lease.status();
  const AdapterInfo info = *Listed("sql", "");  // public
  EXPECT_EQ(info.source, fs::canonical(dir_ / "sql").string());
  EXPECT_EQ(info.refcount, 1);
  EXPECT_EQ(registry_->Acquire("sql", "tenant-b")->version(), lease->version());
  EXPECT_EQ(loader_.started("sql"), 1);
  // A name with no folder is missing, with the one NotFound message.
  EXPECT_EQ(registry_->Acquire("nothing", "tenant-a").status(), AdapterNotFoundError("nothing"));
}

TEST_F(RegistryBasicsTest, LazyLoadRefusesSymlinksLeadingOutside) {
  Make(true);
  fs::create_directories(dir_.parent_path() / (dir_.filename().string() + "_outside"));
  fs::create_directory_symlink(dir_.parent_path() / (dir_.filename().string() + "_outside"),
                               dir_ / "escape");
  EXPECT_EQ(registry_->Acquire("escape", "t").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_->LoadByName("escape", "t").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(loader_.total_started(), 0);
  EXPECT_TRUE(registry_->List(kAdmin).empty());
}

TEST_F(RegistryBasicsTest, LazyLoadFailureStaysListedAndIsRetried) {
  Make(true);
  Folder("flaky");
  loader_.SetFailure("flaky", absl::InvalidArgumentError("bad shapes"));
  absl::StatusOr<AdapterLease> lease = registry_->Acquire("flaky", "t");
  EXPECT_EQ(lease.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(lease.status().message(), "adapter flaky: bad shapes");
  AdapterInfo info = *Listed("flaky", "");
  EXPECT_EQ(info.state, AdapterState::kFailed);
  EXPECT_EQ(info.last_error, "adapter flaky: bad shapes");

  EXPECT_FALSE(registry_->Acquire("flaky", "t").ok());
  EXPECT_EQ(loader_.started("flaky"), 2);  // each later Acquire tries again
  loader_.ClearFailure("flaky");
  lease = registry_->Acquire("flaky", "t");
  ASSERT_TRUE(lease.ok()) << lease.status();
  info = *Listed("flaky", "");
  EXPECT_EQ(info.state, AdapterState::kHost);
  EXPECT_EQ(info.last_error, "");
  EXPECT_EQ(registry_->Stats().load_failures, 2);
}

TEST_F(RegistryBasicsTest, WithoutAdapterDirUnknownNamesAreNotFound) {
  Make(false);
  Folder("sql");
  EXPECT_EQ(registry_->Acquire("sql", "t").status(), AdapterNotFoundError("sql"));
  EXPECT_EQ(registry_->LoadByName("sql", "t").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(loader_.total_started(), 0);
}

TEST_F(RegistryBasicsTest, LoadByNameMakesAPrivateAdapter) {
  Make(true);
  Folder("mine");
  absl::StatusOr<AdapterInfo> info = registry_->LoadByName("mine", "tenant-a");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->owner, "tenant-a");
  EXPECT_EQ(info->source, fs::canonical(dir_ / "mine").string());
  EXPECT_EQ(registry_->LoadByName("absent", "tenant-a").status(), AdapterNotFoundError("absent"));
}

TEST_F(RegistryBasicsTest, UnloadRefusesWhileInUse) {
  Make(false);
  MustLoad("sql", "");
  AdapterLease lease = *registry_->Acquire("sql", "t");
  const absl::Status s = registry_->Unload(kAdmin, {"", "sql"}, UnloadMode::kRefuseIfInUse);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "adapter sql is in use by 1 requests");
  lease.Release();
  EXPECT_TRUE(registry_->Unload(kAdmin, {"", "sql"}, UnloadMode::kRefuseIfInUse).ok());
  EXPECT_EQ(registry_->Acquire("sql", "t").status(), AdapterNotFoundError("sql"));
  EXPECT_EQ(registry_->Stats().host_bytes, 0);
}

TEST_F(RegistryBasicsTest, UnloadWaitsForRequestsInFlight) {
  Make(false);
  MustLoad("sql", "");
  AdapterLease lease = *registry_->Acquire("sql", "t");
  absl::Status unloaded = absl::UnknownError("not yet");
  std::thread unloader([&] {
    unloaded = registry_->Unload(kAdmin, {"", "sql"}, UnloadMode::kWait);
  });
  // Once the unload waits, new requests are refused (no timing: poll until it shows).
  absl::StatusOr<AdapterLease> probe;
  do {
    probe = registry_->Acquire("sql", "t");
    if (probe.ok()) probe->Release();
    std::this_thread::yield();
  } while (probe.ok());
  EXPECT_EQ(probe.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(Listed("sql", "").has_value());  // still registered: a request holds it
  lease.Release();
  unloader.join();
  EXPECT_TRUE(unloaded.ok()) << unloaded;
  EXPECT_FALSE(Listed("sql", "").has_value());
}

TEST_F(RegistryBasicsTest, UnloadWaitGivesUpAfterItsTimeout) {
  Make(false);
  MustLoad("sql", "");
  AdapterLease lease = *registry_->Acquire("sql", "t");
  const absl::Status s =
      registry_->Unload(kAdmin, {"", "sql"}, UnloadMode::kWait, absl::Milliseconds(1));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  // Still registered and serving again.
  EXPECT_TRUE(registry_->Acquire("sql", "t").ok());
  lease.Release();
  EXPECT_TRUE(registry_->Unload(kAdmin, {"", "sql"}, UnloadMode::kWait).ok());
}

TEST_F(RegistryBasicsTest, LoadWaitingForAnUnloadGoesAheadWhenTheUnloadGivesUp) {
  Make(false);
  MustLoad("sql", "");
  AdapterLease lease = *registry_->Acquire("sql", "t");
  absl::Status unloaded;
  std::thread unloader([&] {
    unloaded = registry_->Unload(kAdmin, {"", "sql"}, UnloadMode::kWait, absl::Milliseconds(200));
  });
  while (registry_->Acquire("sql", "t").ok()) std::this_thread::yield();  // the unload waits
  absl::StatusOr<AdapterInfo> reloaded;
  std::thread loader([&] { reloaded = registry_->Load({"sql", Folder("sql"), ""}); });
  unloader.join();
  loader.join();  // would hang if the unload's giving up woke nobody (the lease is still held)
  EXPECT_EQ(unloaded.code(), absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ(reloaded->refcount, 1);
}

TEST_F(RegistryBasicsTest, ReplacedVersionsCountForUnloading) {
  Make(false);
  MustLoad("sql", "");
  AdapterLease old_lease = *registry_->Acquire("sql", "t");
  MustLoad("sql", "");
  EXPECT_EQ(registry_->Unload(kAdmin, {"", "sql"}, UnloadMode::kRefuseIfInUse).code(),
            absl::StatusCode::kFailedPrecondition);
  old_lease.Release();
  EXPECT_TRUE(registry_->Unload(kAdmin, {"", "sql"}, UnloadMode::kRefuseIfInUse).ok());
}

TEST_F(RegistryBasicsTest, HostCacheEvictsLeastRecentlyUsedAndNeverPinned) {
  const int64_t b = FakeAdapterBytes(2);
  Make(false, /*budget=*/2 * b);
  MustLoad("a", "");
  MustLoad("b", "");
  registry_->Acquire("a", "t")->Release();  // a is now more recent than b
  AdapterLease pin_a = *registry_->Acquire("a", "t");
  MustLoad("c", "");  // over budget: b is the least recently used unpinned one
  EXPECT_EQ(Listed("b", "")->state, AdapterState::kOnDisk);
  EXPECT_EQ(Listed("b", "")->tier, AdapterTier::kDisk);
  EXPECT_EQ(Listed("a", "")->state, AdapterState::kHost);
  EXPECT_EQ(Listed("c", "")->state, AdapterState::kHost);
  EXPECT_EQ(registry_->Stats().evictions, 1);

  // Using b reloads it from its folder as a new version, evicting c (a is pinned).
  const uint64_t b_version = Listed("b", "")->version;
  AdapterLease pin_b = *registry_->Acquire("b", "t");
  EXPECT_GT(pin_b.version(), b_version);
  EXPECT_EQ(loader_.started("b"), 2);
  EXPECT_EQ(Listed("c", "")->state, AdapterState::kOnDisk);

  // Nothing unpinned is left: a zero budget is exceeded while both are pinned.
  registry_->SetHostCacheBytes(0);
  AdapterRegistryStats stats = registry_->Stats();
  EXPECT_EQ(stats.num_host, 2);
  EXPECT_EQ(stats.host_bytes, 2 * b);
  EXPECT_EQ(stats.num_pinned, 2);
  pin_a.Release();
  EXPECT_EQ(Listed("a", "")->state, AdapterState::kOnDisk);
  pin_b.Release();
  stats = registry_->Stats();
  EXPECT_EQ(stats.num_host, 0);
  EXPECT_EQ(stats.num_on_disk, 3);
  EXPECT_EQ(stats.host_bytes, 0);
  EXPECT_EQ(stats.evictions, 4);
}

TEST_F(RegistryBasicsTest, StatsCountLoadsFailuresAndLatency) {
  int64_t clock_ns = 0;
  AdapterRegistryOptions options;
  options.now = [&] { return absl::FromUnixNanos(clock_ns += 1'000'000); };  // 1 ms a reading
  AdapterRegistry registry(loader_.AsLoader(), options);
  loader_.SetFailure("bad", absl::InvalidArgumentError("no"));
  ASSERT_TRUE(registry.Load({"a", Folder("a"), ""}).ok());
  ASSERT_FALSE(registry.Load({"bad", Folder("bad"), ""}).ok());
  const AdapterRegistryStats s = registry.Stats();
  EXPECT_EQ(s.loads, 1);
  EXPECT_EQ(s.load_failures, 1);
  EXPECT_EQ(s.load_count, 2);
  EXPECT_NEAR(s.load_seconds_sum, 0.002, 1e-9);
  EXPECT_EQ(s.num_host, 1);
  EXPECT_EQ(s.host_bytes, FakeAdapterBytes(2));
  EXPECT_EQ(registry.List(kTenantA)[0].last_used, absl::InfinitePast());
}

}  // namespace
}  // namespace tessera
