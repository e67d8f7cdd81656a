#include "engine/generation_defaults.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace tessera {
namespace {

using ::testing::HasSubstr;

namespace fs = std::filesystem;

// A scratch model folder with the given generation_config.json (none when `text` is empty).
fs::path ModelDir(const std::string& name, const std::string& text) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("gen_defaults_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  if (!text.empty()) std::ofstream(dir / "generation_config.json") << text;
  return dir;
}

TEST(GenerationDefaultsTest, ReadsTheSamplingFieldsVllmReads) {
  // Llama 3.2 Instruct's file, with every field vLLM applies.
  absl::StatusOr<GenerationDefaults> d = ParseGenerationDefaults(
      R"({"bos_token_id": 128000, "do_sample": true, "eos_token_id": [128001, 128009],
          "temperature": 0.6, "top_p": 0.9, "top_k": 20, "min_p": 0.05,
          "repetition_penalty": 1.05, "max_new_tokens": 512, "transformers_version": "4.45.0"})",
      "g.json");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_FLOAT_EQ(d->temperature, 0.6f);
  EXPECT_FLOAT_EQ(d->top_p, 0.9f);
  EXPECT_EQ(d->top_k, 20);
  EXPECT_FLOAT_EQ(d->min_p, 0.05f);
  EXPECT_FLOAT_EQ(d->repetition_penalty, 1.05f);
  EXPECT_EQ(d->max_tokens, 512);
  EXPECT_THAT(d->Describe(), HasSubstr("temperature=0.6"));
}

TEST(GenerationDefaultsTest, AbsentAndNullFieldsKeepTesserasOwn) {
  absl::StatusOr<GenerationDefaults> d =
      ParseGenerationDefaults(R"({"do_sample": false, "temperature": null, "top_k": -1})", "g");
  ASSERT_TRUE(d.ok()) << d.status();
  const GenerationDefaults builtin;
  EXPECT_EQ(d->temperature, builtin.temperature);
  EXPECT_EQ(d->top_p, builtin.top_p);
  EXPECT_EQ(d->top_k, 0);  // -1 is off
  EXPECT_EQ(d->max_tokens, builtin.max_tokens);
  EXPECT_EQ(d->Describe(), "");
}

TEST(GenerationDefaultsTest, OutOfRangeValuesNameTheFileAndField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"temperature": -0.5})", "temperature"},
      {R"({"temperature": "hot"})", "temperature"},
      {R"({"top_p": 0})", "top_p"},
      {R"({"top_p": 1.5})", "top_p"},
      {R"({"min_p": 2})", "min_p"},
      {R"({"repetition_penalty": 0})", "repetition_penalty"},
      {R"({"top_k": -2})", "top_k"},
      {R"({"top_k": 2.5})", "top_k"},
      {R"({"max_new_tokens": 0})", "max_new_tokens"},
      {R"([1])", "object"},
      {R"({"temperature": )", "g.json"},
  };
  for (const auto& [text, field] : cases) {
    absl::StatusOr<GenerationDefaults> d = ParseGenerationDefaults(text, "g.json");
    ASSERT_FALSE(d.ok()) << text;
    EXPECT_THAT(d.status().message(), HasSubstr(field)) << text;
    EXPECT_THAT(d.status().message(), HasSubstr("g.json")) << text;
  }
}

TEST(GenerationDefaultsTest, SourcesAutoVllmAndAFolder) {
  const fs::path model = ModelDir("model", R"({"temperature": 0.7})");
  absl::StatusOr<GenerationDefaults> d = LoadGenerationDefaults("auto", model.string());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_FLOAT_EQ(d->temperature, 0.7f);
  d = LoadGenerationDefaults("vllm", model.string());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->temperature, 0.0f);
  // A model without the file: tessera's own defaults.
  const fs::path bare = ModelDir("bare", "");
  d = LoadGenerationDefaults("auto", bare.string());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->temperature, 0.0f);
  // Another folder's file wins over the model's; a folder without one is an error.
  const fs::path other = ModelDir("other", R"({"temperature": 0.3})");
  d = LoadGenerationDefaults(other.string(), model.string());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_FLOAT_EQ(d->temperature, 0.3f);
  d = LoadGenerationDefaults(bare.string(), model.string());
  EXPECT_FALSE(d.ok());
  // A bad file in the model folder fails loading instead of being ignored.
  const fs::path bad = ModelDir("bad", R"({"top_p": 7})");
  d = LoadGenerationDefaults("auto", bad.string());
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(d.status().message(), HasSubstr("top_p"));
}

}  // namespace
}  // namespace tessera
