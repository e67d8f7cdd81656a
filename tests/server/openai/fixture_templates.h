// The chat-template fixtures (../shared/fixtures/chat_templates) for the OpenAI layer's tests:
// each file's template and special tokens, and its cases.
#ifndef TESSERA_TESTS_SERVER_OPENAI_FIXTURE_TEMPLATES_H_
#define TESSERA_TESTS_SERVER_OPENAI_FIXTURE_TEMPLATES_H_

#include <optional>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "text/chat_template/chat_template.h"

namespace tessera::openai::testing {

struct FixtureFile {
  std::string name;             // "llama3_1"
  nlohmann::ordered_json json;  // the whole file
};

// Every fixture file, by name; empty when the fixtures are absent.
std::vector<FixtureFile> LoadFixtureFiles();
// One file (e.g. "qwen2_5"), or nullopt when absent.
std::optional<FixtureFile> LoadFixtureFile(const std::string& name);
// The file's template as a ChatTemplate (aborts the test on failure: a fixture bug).
chat_template::ChatTemplate TemplateOf(const FixtureFile& file);

}  // namespace tessera::openai::testing

#endif  // TESSERA_TESTS_SERVER_OPENAI_FIXTURE_TEMPLATES_H_
