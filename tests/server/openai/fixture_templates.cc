#include "tests/server/openai/fixture_templates.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"

namespace tessera::openai::testing {
namespace {

std::filesystem::path FixtureDir() {
  return std::filesystem::path(TESSERA_FIXTURES_DIR) / "chat_templates";
}

FixtureFile Read(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return FixtureFile{path.stem().string(), nlohmann::ordered_json::parse(ss.str())};
}

}  // namespace

std::vector<FixtureFile> LoadFixtureFiles() {
  std::vector<FixtureFile> files;
  std::error_code ec;
  if (!std::filesystem::is_directory(FixtureDir(), ec)) return files;
  std::vector<std::filesystem::path> paths;
  for (const auto& entry : std::filesystem::directory_iterator(FixtureDir())) {
    if (entry.path().extension() == ".json") paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());
  for (const auto& p : paths) files.push_back(Read(p));
  return files;
}

std::optional<FixtureFile> LoadFixtureFile(const std::string& name) {
  const std::filesystem::path path = FixtureDir() / (name + ".json");
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::nullopt;
  return Read(path);
}

chat_template::ChatTemplate TemplateOf(const FixtureFile& file) {
  absl::StatusOr<chat_template::ChatTemplate> t = chat_template::ChatTemplate::Create(
      {{"default", file.json["template"].get<std::string>()}}, file.json["special_tokens"]);
  if (!t.ok()) {
    ADD_FAILURE() << file.name << ": " << t.status();
    std::abort();
  }
  return *std::move(t);
}

}  // namespace tessera::openai::testing
