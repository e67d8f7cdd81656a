// Scratch files for loader tests: a fresh directory per test and whole-file writes.
#ifndef TESSERA_TESTS_ENGINE_TEST_FILES_H_
#define TESSERA_TESTS_ENGINE_TEST_FILES_H_

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace tessera::testing {

// An empty directory TempDir()/<prefix>_<name>, removed first if a previous run left it.
inline std::string TestDir(const std::string& prefix, const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/" + prefix + "_" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  ASSERT_TRUE(f.good()) << path;
}

}  // namespace tessera::testing

#endif  // TESSERA_TESTS_ENGINE_TEST_FILES_H_
