// The tenant isolation matrix: tenants A and B, an anonymous caller and an admin against A's and
// B's private adapters, a public one, and a name both A and the public catalogue hold. Another
// tenant's private adapter must answer exactly as a missing one does, with and without lazy
// loading from --adapter-dir.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "adapters/adapter_name.h"
#include "adapters/adapter_registry.h"
#include "tests/adapters/registry_test_util.h"

namespace tessera {
namespace {

using ::tessera::testing::kAdmin;
using ::tessera::testing::kAnonymous;
using ::tessera::testing::kTenantA;
using ::tessera::testing::kTenantB;
using ::tessera::testing::RegistryTest;

class IsolationTest : public RegistryTest, public ::testing::WithParamInterface<bool> {
 protected:
  bool lazy() const { return GetParam(); }

  void SetUpAdapters() {
    Make(lazy());
    MustLoad("a_priv", kTenantA.tenant);
    MustLoad("b_priv", kTenantB.tenant);
    MustLoad("pub", "");
    MustLoad("shadow", kTenantA.tenant);
    MustLoad("shadow", "");
    // With lazy loading these folders exist in the adapter dir (MustLoad made them) and one more
    // name exists only there.
    Folder("catalogue_only");
  }

  // What a registry that never heard of `name` answers `tenant` (same directory, same config).
  absl::Status FreshAnswer(const std::string& name, const std::string& tenant) {
    AdapterRegistryOptions options;
    if (lazy()) options.adapter_dir = dir_;
    AdapterRegistry fresh(loader_.AsLoader(), options);
    return fresh.Acquire(name, tenant).status();
  }

  static std::vector<std::pair<std::string, std::string>> Keys(
      const std::vector<AdapterInfo>& infos) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const AdapterInfo& i : infos) out.emplace_back(i.name, i.owner);
    return out;
  }
};

TEST_P(IsolationTest, AcquireMatrix) {
  SetUpAdapters();
  struct Case {
    AdapterCaller caller;
    std::string name;
    std::string owner_used;  // "-" when the caller cannot see a registered one
  };
  const std::vector<Case> cases = {
      {kTenantA, "a_priv", "tenant-a"},
      {kTenantA, "b_priv", "-"},
      {kTenantA, "pub", ""},
      {kTenantA, "shadow", "tenant-a"},
      {kTenantB, "a_priv", "-"},
      {kTenantB, "b_priv", "tenant-b"},
      {kTenantB, "pub", ""},
      {kTenantB, "shadow", ""},
      {kAnonymous, "a_priv", "-"},
      {kAnonymous, "b_priv", "-"},
      {kAnonymous, "pub", ""},
      {kAnonymous, "shadow", ""},
      {kAdmin, "a_priv", "-"},
      {kAdmin, "b_priv", "-"},
      {kAdmin, "pub", ""},
      {kAdmin, "shadow", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.caller.tenant + " -> " + c.name);
    const std::vector<AdapterInfo> before = registry_->List(kAdmin);
    absl::StatusOr<AdapterLease> lease = registry_->Acquire(c.name, c.caller.tenant);
    if (c.owner_used != "-") {
      ASSERT_TRUE(lease.ok()) << lease.status();
      EXPECT_EQ(lease->key().owner, c.owner_used);
      EXPECT_EQ(registry_->List(kAdmin).size(), before.size());
      continue;
    }
    // Exactly what a registry without the private adapter answers: NotFound with the fixed
    // message, or (lazy) a public adapter of that name loaded from the directory.
    const absl::Status fresh = FreshAnswer(c.name, c.caller.tenant);
    if (!lazy()) {
      EXPECT_EQ(lease.status(), AdapterNotFoundError(c.name));
      EXPECT_EQ(lease.status(), fresh);
    } else {
      ASSERT_TRUE(lease.ok()) << lease.status();
      EXPECT_TRUE(fresh.ok()) << fresh;
      EXPECT_EQ(lease->key().owner, "");
      ASSERT_TRUE(Listed(c.name, "").has_value());
      EXPECT_NE(Listed(c.name, "")->version,
                Listed(c.name, c.name[0] == 'a' ? "tenant-a" : "tenant-b")->version);
    }
  }
  // A name nobody has: the same NotFound for everyone (or a lazy load for everyone).
  for (const AdapterCaller& caller : {kTenantA, kTenantB, kAnonymous, kAdmin}) {
    EXPECT_EQ(registry_->Acquire("never", caller.tenant).status(), AdapterNotFoundError("never"));
    EXPECT_EQ(registry_->Acquire("catalogue_only", caller.tenant).ok(), lazy());
  }
}

TEST_P(IsolationTest, ListMatrix) {
  SetUpAdapters();
  using Keys = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(this->Keys(registry_->List(kTenantA)),
            (Keys{{"a_priv", "tenant-a"}, {"pub", ""}, {"shadow", ""}, {"shadow", "tenant-a"}}));
  EXPECT_EQ(this->Keys(registry_->List(kTenantB)),
            (Keys{{"b_priv", "tenant-b"}, {"pub", ""}, {"shadow", ""}}));
  EXPECT_EQ(this->Keys(registry_->List(kAnonymous)), (Keys{{"pub", ""}, {"shadow", ""}}));
  EXPECT_EQ(this->Keys(registry_->List(kAdmin)), (Keys{{"a_priv", "tenant-a"},
                                                       {"b_priv", "tenant-b"},
                                                       {"pub", ""},
                                                       {"shadow", ""},
                                                       {"shadow", "tenant-a"}}));
}

TEST_P(IsolationTest, UnloadMatrix) {
  SetUpAdapters();
  const auto refuse = UnloadMode::kRefuseIfInUse;
  // Tenants cannot unload others' or public adapters, and cannot tell them from missing ones.
  for (const AdapterKey& key : std::vector<AdapterKey>{{"tenant-b", "b_priv"},
                                                       {"tenant-a", "b_priv"},
                                                       {"", "pub"},
                                                       {"", "shadow"},
                                                       {"tenant-b", "missing"}}) {
    EXPECT_EQ(registry_->Unload(kTenantA, key, refuse), AdapterNotFoundError(key.name))
        << key.owner << "/" << key.name;
  }
  EXPECT_EQ(registry_->Unload(kAnonymous, {"", "pub"}, refuse), AdapterNotFoundError("pub"));
  EXPECT_EQ(registry_->List(kAdmin).size(), 5u);

  // A unloads its own "shadow"; from then on A uses the public one.
  EXPECT_TRUE(registry_->Unload(kTenantA, {"tenant-a", "shadow"}, refuse).ok());
  EXPECT_EQ(registry_->Acquire("shadow", "tenant-a")->key().owner, "");
  EXPECT_TRUE(registry_->Unload(kTenantB, {"tenant-b", "b_priv"}, refuse).ok());
  // The admin unloads anyone's.
  EXPECT_TRUE(registry_->Unload(kAdmin, {"tenant-a", "a_priv"}, refuse).ok());
  EXPECT_TRUE(registry_->Unload(kAdmin, {"", "pub"}, refuse).ok());
  EXPECT_EQ(this->Keys(registry_->List(kAdmin)),
            (std::vector<std::pair<std::string, std::string>>{{"shadow", ""}}));
}

TEST_P(IsolationTest, NamesArePerOwnerSoNoneIsTaken) {
  SetUpAdapters();
  // B loads its own "a_priv" by path (or by name from the directory) as if A's did not exist.
  absl::StatusOr<AdapterInfo> info = registry_->Load({"a_priv", Folder("a_priv"), "tenant-b"});
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(registry_->Acquire("a_priv", "tenant-b")->version(), info->version);
  EXPECT_NE(registry_->Acquire("a_priv", "tenant-a")->version(), info->version);
}

INSTANTIATE_TEST_SUITE_P(LazyOrNot, IsolationTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "LazyAdapterDir" : "NoAdapterDir";
                         });

}  // namespace
}  // namespace tessera
