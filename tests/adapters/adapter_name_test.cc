// Adapter names from the network and their resolution under --adapter-dir: traversal attempts,
// symlinks leading outside, and error messages that do not reveal server paths.
#include "adapters/adapter_name.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/engine/test_files.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;
using ::tessera::testing::TestDir;
using ::tessera::testing::WriteFile;

TEST(AdapterNameTest, AcceptsTheAllowedAlphabet) {
  for (const std::string& name :
       std::vector<std::string>{"a", "Z", "0", "llama-3.2_sql.v2", "...", ".hidden", "-x", "a..b",
                                std::string(kMaxAdapterNameLength, 'n')}) {
    EXPECT_TRUE(IsValidAdapterName(name)) << name;
    EXPECT_TRUE(ValidateAdapterName(name).ok()) << name;
  }
}

TEST(AdapterNameTest, RefusesTraversalSeparatorsAndOddCharacters) {
  const std::string with_nul("a\0b", 3);
  for (const std::string& name : std::vector<std::string>{
           "", ".", "..", "../x", "x/..", "a/b", "/etc", "a\\b", "..\\x", "a b", "a\tb", "a\nb",
           "é", "%2e%2e", "a:b", "~", "*", with_nul, std::string(kMaxAdapterNameLength + 1, 'n')}) {
    EXPECT_FALSE(IsValidAdapterName(name)) << name;
    const absl::Status s = ValidateAdapterName(name);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << name;
  }
}

TEST(AdapterNameTest, MessagesSayWhatIsWrong) {
  EXPECT_NE(ValidateAdapterName("").message().find("empty"), std::string::npos);
  EXPECT_NE(ValidateAdapterName("a/b").message().find("path separators"), std::string::npos);
  EXPECT_NE(ValidateAdapterName(std::string(200, 'x')).message().find("longer than 128"),
            std::string::npos);
  // Control characters are escaped, not echoed raw.
  EXPECT_EQ(ValidateAdapterName("a\nb").message().find('\n'), std::string::npos);
}

TEST(AdapterNameTest, NotFoundMessageIsFixed) {
  const absl::Status s = AdapterNotFoundError("sql");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "adapter sql not found");
}

class ResolveAdapterPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = TestDir("adapter_name", info->name());
    dir_ = root_ / "adapters";
    fs::create_directories(dir_ / "good");
    WriteFile(dir_ / "good" / "adapter_config.json", "{}");
    fs::create_directories(root_ / "outside");
    fs::create_directories(root_ / "adapters2" / "foo");  // shares "adapters" as a string prefix
    WriteFile(dir_ / "plain_file", "x");
  }

  fs::path root_;
  fs::path dir_;
};

TEST_F(ResolveAdapterPathTest, ResolvesAFolderToItsCanonicalPath) {
  auto path = ResolveAdapterPath(dir_, "good");
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, fs::canonical(dir_ / "good"));
}

TEST_F(ResolveAdapterPathTest, FollowsSymlinksThatStayInside) {
  fs::create_directory_symlink(dir_ / "good", dir_ / "alias_abs");
  fs::create_directory_symlink("good", dir_ / "alias_rel");
  for (const char* name : {"alias_abs", "alias_rel"}) {
    auto path = ResolveAdapterPath(dir_, name);
    ASSERT_TRUE(path.ok()) << name << ": " << path.status();
    EXPECT_EQ(*path, fs::canonical(dir_ / "good")) << name;
  }
}

TEST_F(ResolveAdapterPathTest, AdapterDirMayItselfBeASymlink) {
  fs::create_directory_symlink(dir_, root_ / "linked_dir");
  auto path = ResolveAdapterPath(root_ / "linked_dir", "good");
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, fs::canonical(dir_ / "good"));
}

TEST_F(ResolveAdapterPathTest, RefusesSymlinksLeadingOutside) {
  fs::create_directory_symlink(root_ / "outside", dir_ / "escape_abs");
  fs::create_directory_symlink("../outside", dir_ / "escape_rel");
  fs::create_directory_symlink("../adapters2/foo", dir_ / "escape_prefix");
  fs::create_directory_symlink("/", dir_ / "escape_root");
  fs::create_directory_symlink(".", dir_ / "self");
  fs::create_directory_symlink("..", dir_ / "parent");
  fs::create_directory_symlink("good/..", dir_ / "through_good");
  for (const char* name : {"escape_abs", "escape_rel", "escape_prefix", "escape_root", "self",
                           "parent", "through_good"}) {
    auto path = ResolveAdapterPath(dir_, name);
    ASSERT_FALSE(path.ok()) << name << " resolved to " << *path;
    EXPECT_EQ(path.status().code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_NE(path.status().message().find("outside the adapter directory"), std::string::npos)
        << path.status();
    EXPECT_EQ(path.status().message().find(root_.string()), std::string::npos) << path.status();
  }
}

TEST_F(ResolveAdapterPathTest, RefusesTraversalNamesBeforeTouchingTheDisk) {
  WriteFile(root_ / "outside" / "adapter_config.json", "{}");
  for (const char* name : {"../outside", "..", ".", "good/../../outside", "/tmp", "good/"}) {
    auto path = ResolveAdapterPath(dir_, name);
    ASSERT_FALSE(path.ok()) << name;
    EXPECT_EQ(path.status().code(), absl::StatusCode::kInvalidArgument) << name;
  }
}

TEST_F(ResolveAdapterPathTest, MissingAndDanglingAreNotFound) {
  fs::create_directory_symlink(dir_ / "gone", dir_ / "dangling");
  for (const char* name : {"missing", "dangling"}) {
    auto path = ResolveAdapterPath(dir_, name);
    ASSERT_FALSE(path.ok()) << name;
    EXPECT_EQ(path.status(), AdapterNotFoundError(name));
  }
}

TEST_F(ResolveAdapterPathTest, RefusesAFileAndALoop) {
  fs::create_symlink("loop_b", dir_ / "loop_a");
  fs::create_symlink("loop_a", dir_ / "loop_b");
  for (const char* name : {"plain_file", "loop_a"}) {
    auto path = ResolveAdapterPath(dir_, name);
    ASSERT_FALSE(path.ok()) << name;
    EXPECT_EQ(path.status().code(), absl::StatusCode::kInvalidArgument) << name;
  }
}

TEST_F(ResolveAdapterPathTest, MissingAdapterDirIsAConfigurationError) {
  auto path = ResolveAdapterPath(root_ / "nope", "good");
  EXPECT_EQ(path.status().code(), absl::StatusCode::kFailedPrecondition);
  path = ResolveAdapterPath(dir_ / "plain_file", "good");
  EXPECT_EQ(path.status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace tessera
