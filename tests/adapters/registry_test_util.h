// Shared set-up of the registry tests: a scratch adapter directory, the fake loader, callers.
#ifndef TESSERA_TESTS_ADAPTERS_REGISTRY_TEST_UTIL_H_
#define TESSERA_TESTS_ADAPTERS_REGISTRY_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <filesystem>
#include <limits>
#include <memory>
#include <string>

#include "adapters/adapter_registry.h"
#include "tests/adapters/fake_adapter_loader.h"
#include "tests/engine/test_files.h"

namespace tessera::testing {

inline const AdapterCaller kTenantA{"tenant-a", false};
inline const AdapterCaller kTenantB{"tenant-b", false};
inline const AdapterCaller kAdmin{"ops", true};
inline const AdapterCaller kAnonymous{"", false};

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = TestDir("adapter_registry", std::string(info->test_suite_name()) + "_" + info->name());
  }

  // An (empty) adapter folder dir_/<name>; the fake loader needs nothing inside.
  std::filesystem::path Folder(const std::string& name) {
    std::filesystem::create_directories(dir_ / name);
    return dir_ / name;
  }

  AdapterRegistry& Make(bool lazy, int64_t budget = std::numeric_limits<int64_t>::max()) {
    AdapterRegistryOptions options;
    if (lazy) options.adapter_dir = dir_;
    options.host_cache_bytes = budget;
    registry_ = std::make_unique<AdapterRegistry>(loader_.AsLoader(), options);
    return *registry_;
  }

  // Load of Folder(name) as (owner, name); fails the test on error.
  AdapterInfo MustLoad(const std::string& name, const std::string& owner) {
    absl::StatusOr<AdapterInfo> info = registry_->Load({name, Folder(name), owner});
    EXPECT_TRUE(info.ok()) << info.status();
    return info.ok() ? *info : AdapterInfo{};
  }

  // The entry as the admin lists it, or nullopt.
  std::optional<AdapterInfo> Listed(const std::string& name, const std::string& owner) {
    for (const AdapterInfo& i : registry_->List(kAdmin)) {
      if (i.name == name && i.owner == owner) return i;
    }
    return std::nullopt;
  }

  FakeAdapterLoader loader_;  // outlives the registry
  std::filesystem::path dir_;
  std::unique_ptr<AdapterRegistry> registry_;
};

}  // namespace tessera::testing

#endif  // TESSERA_TESTS_ADAPTERS_REGISTRY_TEST_UTIL_H_
