// Every public case of ../shared/fixtures/chat_templates, rendered byte for byte as transformers
// renders it (and every error case failing with the template's own message).
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "text/chat_template/chat_template.h"

namespace tessera::chat_template {
namespace {

using Json = nlohmann::ordered_json;

std::filesystem::path FixtureDir() {
  return std::filesystem::path(TESSERA_FIXTURES_DIR) / "chat_templates";
}

struct FixtureCase {
  std::string file;
  Json fixture;  // the whole file: template, special tokens
  Json c;        // one case
};

std::vector<FixtureCase> LoadCases() {
  std::vector<FixtureCase> cases;
  std::error_code ec;
  if (!std::filesystem::is_directory(FixtureDir(), ec)) return cases;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(FixtureDir())) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& path : files) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    const Json fixture = Json::parse(ss.str());
    for (const Json& c : fixture["cases"]) {
      cases.push_back(FixtureCase{path.stem().string(), fixture, c});
    }
  }
  return cases;
}

TEST(ChatTemplateFixtures, EveryPublicCaseRendersAsTransformers) {
  const std::vector<FixtureCase> cases = LoadCases();
  if (cases.empty()) GTEST_SKIP() << "no fixtures at " << FixtureDir();
  int rendered = 0, refused = 0;
  for (const FixtureCase& fc : cases) {
    SCOPED_TRACE(fc.file + "/" + fc.c["name"].get<std::string>());
    absl::StatusOr<ChatTemplate> tmpl = ChatTemplate::Create(
        {{"default", fc.fixture["template"].get<std::string>()}}, fc.fixture["special_tokens"]);
    ASSERT_TRUE(tmpl.ok()) << tmpl.status();
    absl::StatusOr<ChatRequest> request = ParseChatRequest(fc.c);
    ASSERT_TRUE(request.ok()) << request.status();
    absl::StatusOr<std::string> prompt = tmpl->Apply(*request);
    if (fc.c.contains("expected")) {
      ASSERT_TRUE(prompt.ok()) << prompt.status();
      EXPECT_EQ(*prompt, fc.c["expected"].get<std::string>());
      ++rendered;
    } else {
      ASSERT_FALSE(prompt.ok());
      EXPECT_TRUE(IsRaisedByTemplate(prompt.status())) << prompt.status();
      EXPECT_EQ(prompt.status().message(), fc.c["error"].get<std::string>());
      ++refused;
    }
  }
  // The README counts 47 public cases; 7 of them are refusals.
  EXPECT_EQ(rendered + refused, 47);
  EXPECT_EQ(refused, 7);
}

}  // namespace
}  // namespace tessera::chat_template
