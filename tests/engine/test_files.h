// Scratch files for loader tests: a fresh directory per test and whole-file writes.
#ifndef TESSERA_TESTS_ENGINE_TEST_FILES_H_
#define TESSERA_TESTS_ENGINE_TEST_FILES_H_

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <system_error>

namespace tessera::testing {

// An empty directory TempDir()/<prefix>_<name>_<pid>, removed first if a previous run left it.
// The pid: ctest runs each test of a binary as its own process, two at once under -j, and a
// suite's shared directory (SetUpTestSuite) must not be rewritten or removed under the other.
inline std::string TestDir(const std::string& prefix, const std::string& name) {
  const std::string dir =
      ::testing::TempDir() + "/" + prefix + "_" + name + "_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  ASSERT_TRUE(f.good()) << path;
}

// Empty when the model folder's files are usable; else why not. The quant-llama fixtures hold
// symbolic links (shard 1, tokenizer.json), and a copy that does not keep links (one made with
// core.symlinks=false, or by a tool that writes a link as a file holding its target) leaves small
// files holding "../quant-llama/...": tests skip such a copy with this message rather than fail on
// a fixture problem.
inline std::string BrokenFixtureLinks(const std::string& model_dir) {
  for (const char* name : {"model-00001-of-00002.safetensors", "tokenizer.json"}) {
    const std::filesystem::path p = std::filesystem::path(model_dir) / name;
    std::error_code ec;
    if (std::filesystem::is_symlink(p, ec) || !std::filesystem::is_regular_file(p, ec)) continue;
    if (std::filesystem::file_size(p, ec) > 256) continue;
    std::ifstream f(p, std::ios::binary);
    std::string head(3, '\0');
    f.read(head.data(), 3);
    if (head == "../") {
      return p.string() + " is a file holding a link target, not a symbolic link: this copy of " +
             "the fixtures lost its links";
    }
  }
  return "";
}

// `model_dir` itself when its files are usable. Otherwise (a copy of the fixtures that lost its
// links, as BrokenFixtureLinks says) a scratch folder of symbolic links to the model's files in
// which each file holding a link target is replaced by a link to that target, so that the tests
// still run on the real fixture. The folder is per process (ctest runs tests side by side) and
// reused within it; one left by an earlier process with the same id (ids wrap), perhaps from
// another checkout whose links now dangle, is made again.
inline std::string FixtureModelDir(const std::string& model_dir) {
  namespace fs = std::filesystem;
  if (BrokenFixtureLinks(model_dir).empty()) return model_dir;
  const fs::path src = fs::absolute(model_dir);
  const fs::path dir =
      fs::path(::testing::TempDir()) /
      ("fixture_links_" + src.filename().string() + "_" + std::to_string(getpid()));
  std::error_code ec;
  static std::set<std::string>* const made = new std::set<std::string>;  // by this process
  if (!made->insert(dir.string()).second) return dir.string();
  fs::remove_all(dir, ec);
  fs::create_directories(dir);
  for (const fs::directory_entry& e : fs::directory_iterator(src)) {
    fs::path target = e.path();
    if (e.is_regular_file(ec) && e.file_size(ec) <= 256) {
      std::ifstream f(e.path(), std::ios::binary);
      std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
      if (text.rfind("../", 0) == 0) target = (src / text).lexically_normal();
    }
    fs::create_symlink(target, dir / e.path().filename(), ec);
    EXPECT_FALSE(ec) << "cannot link " << target << ": " << ec.message();
  }
  return dir.string();
}

}  // namespace tessera::testing

#endif  // TESSERA_TESTS_ENGINE_TEST_FILES_H_
