// Files the tokenizer tests read: the fixture tokenizers (extracted into the build tree at
// configure time), hard_cases.json (checked in; produced by refgen/gen_hard_cases.mjs) and
// onig_cases.json (checked in; produced by refgen/gen_onig_cases.py).
#ifndef TESSERA_TESTS_ENGINE_TOKENIZER_TEST_DATA_H_
#define TESSERA_TESTS_ENGINE_TOKENIZER_TEST_DATA_H_

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "nlohmann/json.hpp"

namespace tessera::tokenizer_test {

inline std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The directory of one fixture tokenizer ("llama2", "llama3", "qwen3"); it may not exist.
inline std::filesystem::path FixtureDir(std::string_view name) {
  return std::filesystem::path(TOKENIZER_FIXTURES_DIR) / name;
}

inline bool HasFixture(std::string_view name) {
  return std::filesystem::exists(FixtureDir(name) / "tokenizer.json");
}

inline const nlohmann::json& HardCases() {
  static const nlohmann::json* cases =
      new nlohmann::json(nlohmann::json::parse(ReadFile(TOKENIZER_HARD_CASES_JSON)));
  return *cases;
}

inline const nlohmann::json& OnigCases() {
  static const nlohmann::json* cases =
      new nlohmann::json(nlohmann::json::parse(ReadFile(TOKENIZER_ONIG_CASES_JSON)));
  return *cases;
}

}  // namespace tessera::tokenizer_test

#endif  // TESSERA_TESTS_ENGINE_TOKENIZER_TEST_DATA_H_
