// `tessera make-model`: the directory it writes loads with tessera's own tokenizer and CPU engine,
// round-trips any UTF-8 text, generates deterministically, and is written idempotently.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "client/make_model_command.h"
#include "client/model_presets.h"
#include "engine/cpu/cpu_engine.h"
#include "engine/model_config.h"
#include "gtest/gtest.h"
#include "scheduler/offline_scheduler.h"
#include "text/tokenizer/tokenizer.h"
#include "text/tokenizer/utf8.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// A fresh directory for one test; the model directories go inside it.
class MakeModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = fs::path(::testing::TempDir()) / ("make_model_test-" + std::to_string(getpid())) /
            info->name();
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override {
    // No staging directory is left behind, whatever happened.
    for (const auto& entry : fs::directory_iterator(root_)) {
      EXPECT_EQ(entry.path().filename().string().find(".partial-"), std::string::npos)
          << entry.path();
    }
    fs::remove_all(root_);
  }

  absl::StatusOr<MadeModel> Make(const std::string& name, uint64_t seed = 0, bool force = false,
                                 const std::string& preset = "llama-mini") {
    MakeModelOptions o;
    o.dir = (root_ / name).string();
    o.seed = seed;
    o.force = force;
    o.preset = preset;
    return MakeModel(o);
  }

  fs::path root_;
};

// The default model, written once for the tests that only read it.
class DefaultModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // ctest runs each test of the suite in its own process, two at a time: one folder each.
    dir_ = new fs::path(fs::path(::testing::TempDir()) /
                        ("make_model_test_default-" + std::to_string(getpid())));
    fs::remove_all(*dir_);
    MakeModelOptions o;
    o.dir = dir_->string();
    auto made = MakeModel(o);
    ASSERT_TRUE(made.ok()) << made.status();
    auto tok = Tokenizer::Load(*dir_);
    ASSERT_TRUE(tok.ok()) << tok.status();
    tokenizer_ = tok->release();
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    fs::remove_all(*dir_);
    delete dir_;
  }
  void SetUp() override { ASSERT_NE(tokenizer_, nullptr); }

  static fs::path* dir_;
  static Tokenizer* tokenizer_;
};
fs::path* DefaultModelTest::dir_ = nullptr;
Tokenizer* DefaultModelTest::tokenizer_ = nullptr;

TEST_F(DefaultModelTest, ConfigIsThePresetWithTheTokenizersVocabulary) {
  for (const char* f : {"config.json", "generation_config.json", "model.safetensors",
                        "tokenizer.json", "tokenizer_config.json"}) {
    EXPECT_TRUE(fs::is_regular_file(*dir_ / f)) << f;
  }
  auto config = LoadModelConfig(dir_->string());
  ASSERT_TRUE(config.ok()) << config.status();
  auto preset = PresetModelConfig("llama-mini");
  ASSERT_TRUE(preset.ok());
  EXPECT_EQ(config->architecture, "LlamaForCausalLM");
  EXPECT_EQ(config->hidden_size, 256);
  EXPECT_EQ(config->hidden_size, preset->hidden_size);
  EXPECT_EQ(config->intermediate_size, preset->intermediate_size);
  EXPECT_EQ(config->num_hidden_layers, 4);
  EXPECT_EQ(config->num_attention_heads, 4);
  EXPECT_EQ(config->num_key_value_heads, 2);
  EXPECT_EQ(config->head_dim, 64);
  EXPECT_EQ(config->max_position_embeddings, 2048);
  EXPECT_EQ(config->rope_theta, preset->rope_theta);
  // Every id the model can produce names a token, and no more.
  EXPECT_EQ(config->vocab_size, 2048);
  EXPECT_EQ(tokenizer_->id_end(), config->vocab_size);
  EXPECT_EQ(tokenizer_->bos_id(), config->bos_token_id);
  EXPECT_EQ(tokenizer_->TokenToId("<|begin_of_text|>"), config->bos_token_id);
  // generation_config.json's EOS is merged in by LoadModelConfig: still the one token.
  ASSERT_EQ(config->eos_token_ids.size(), 1u);
  EXPECT_EQ(tokenizer_->eos_id(), config->eos_token_ids[0]);
  EXPECT_EQ(tokenizer_->TokenToId("<|end_of_text|>"), config->eos_token_ids[0]);
  for (int32_t id = 0; id < tokenizer_->id_end(); ++id) {
    ASSERT_TRUE(tokenizer_->Decode(std::vector<int32_t>{id}, false).ok()) << id;
  }
}

TEST_F(DefaultModelTest, CpuEngineLoadsIt) {
  CpuEngineOptions o;
  o.num_kv_blocks = 16;
  o.num_threads = 1;
  auto engine = CpuEngine::Load(dir_->string(), o);
  ASSERT_TRUE(engine.ok()) << engine.status();
  EXPECT_EQ((*engine)->config().vocab_size, 2048);
  EXPECT_EQ((*engine)->weights().NumParameters(), 4196608u);
}

// Random text from every part of Unicode that matters to a byte-level tokenizer, with the
// special tokens mixed in.
std::string RandomText(std::mt19937& rng) {
  static const std::vector<std::pair<char32_t, char32_t>> kRanges = {
      {0x20, 0x7E},         // ASCII
      {0x09, 0x0D},         // tabs, newlines, \r
      {0x00, 0x1F},         // controls, NUL included
      {0xA0, 0x24F},        // Latin-1 and Latin Extended
      {0x300, 0x36F},       // combining marks
      {0x391, 0x3C9},       // Greek
      {0x410, 0x44F},       // Cyrillic
      {0x5D0, 0x5EA},       // Hebrew
      {0x600, 0x6FF},       // Arabic
      {0x900, 0x97F},       // Devanagari
      {0x3040, 0x30FF},     // kana
      {0x4E00, 0x9FFF},     // CJK
      {0xAC00, 0xD7A3},     // Hangul
      {0xE000, 0xF8FF},     // private use
      {0xFE00, 0xFE0F},     // variation selectors
      {0x1F300, 0x1FAFF},   // emoji
      {0x1F3FB, 0x1F3FF},   // skin tones
      {0x200B, 0x200D},     // zero-width space / joiner
      {0x10000, 0x10FFFF},  // anything beyond the BMP
  };
  static const std::vector<std::string> kWords = {" the",
                                                  "The",
                                                  " morning",
                                                  "'s",
                                                  "'LL",
                                                  "  ",
                                                  "\n\n",
                                                  " 12345",
                                                  "3.14",
                                                  "<|begin_of_text|>",
                                                  "<|end_of_text|>",
                                                  "<|eot_id|>",
                                                  "<|reserved_special_token_3|>",
                                                  "<|",
                                                  "|>",
                                                  "\xEF\xBF\xBD"};
  std::uniform_int_distribution<int> length(0, 40), kind(0, 9);
  std::string text;
  for (int n = length(rng); n > 0; --n) {
    if (kind(rng) == 0) {
      text += kWords[std::uniform_int_distribution<size_t>(0, kWords.size() - 1)(rng)];
      continue;
    }
    const auto& [lo, hi] =
        kRanges[std::uniform_int_distribution<size_t>(0, kRanges.size() - 1)(rng)];
    char32_t cp = std::uniform_int_distribution<char32_t>(lo, hi)(rng);
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;  // surrogates are not characters
    tokenizer::AppendUtf8(cp, &text);
  }
  return text;
}

TEST_F(DefaultModelTest, RandomUtf8RoundTrips) {
  std::mt19937 rng(7);
  for (int i = 0; i < 500; ++i) {
    const std::string text = RandomText(rng);
    auto ids = tokenizer_->Encode(text, false);
    ASSERT_TRUE(ids.ok()) << ids.status();
    auto decoded = tokenizer_->Decode(*ids, false);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    ASSERT_EQ(*decoded, text) << "case " << i;
    auto with_bos = tokenizer_->Encode(text, true);
    ASSERT_TRUE(with_bos.ok());
    ASSERT_EQ(with_bos->size(), ids->size() + 1);
    EXPECT_EQ((*with_bos)[0], tokenizer_->bos_id());
  }
}

TEST_F(DefaultModelTest, SpecialTokensAreMatchedAndSkipped) {
  const int32_t bos = *tokenizer_->bos_id(), eos = *tokenizer_->eos_id();
  const int32_t eot = *tokenizer_->TokenToId("<|eot_id|>");
  auto ids = tokenizer_->Encode("<|begin_of_text|>hi<|eot_id|><|end_of_text|>", false);
  ASSERT_TRUE(ids.ok());
  ASSERT_GE(ids->size(), 4u);
  EXPECT_EQ(ids->front(), bos);
  EXPECT_EQ((*ids)[ids->size() - 2], eot);
  EXPECT_EQ(ids->back(), eos);
  EXPECT_EQ(*tokenizer_->Decode(*ids, true), "hi");
  auto with_bos = tokenizer_->Encode("hi", true);
  ASSERT_TRUE(with_bos.ok());
  EXPECT_EQ(with_bos->front(), bos);
  EXPECT_TRUE(tokenizer_->add_bos_token());
}

TEST_F(DefaultModelTest, MergesShortenEnglish) {
  // Not from the text the merges were learned from.
  const std::string text =
      "The weather in the city was warm, and the market was full of people buying bread.";
  auto ids = tokenizer_->Encode(text, false);
  ASSERT_TRUE(ids.ok());
  EXPECT_LT(ids->size() * 3, text.size()) << ids->size() << " tokens";
}

std::vector<int32_t> GreedyFromText(const fs::path& dir, std::string* text = nullptr) {
  CpuEngineOptions o;
  o.num_kv_blocks = 16;
  o.num_threads = 1;
  auto engine = CpuEngine::Load(dir.string(), o);
  EXPECT_TRUE(engine.ok()) << engine.status();
  auto tok = Tokenizer::Load(dir);
  EXPECT_TRUE(tok.ok()) << tok.status();
  if (!engine.ok() || !tok.ok()) return {};
  GenerateRequest r;
  r.id = "g";
  r.prompt_token_ids = *(*tok)->Encode("The morning train was late", true);
  r.max_tokens = 12;
  r.ignore_eos = true;
  OfflineScheduler scheduler(**engine, {}, tok->get());
  auto results = scheduler.Run({r});
  EXPECT_TRUE(results.ok()) << results.status();
  if (!results.ok()) return {};
  const GenerateResult& result = (*results)[0];
  EXPECT_TRUE(result.status.ok()) << result.status;
  EXPECT_EQ(result.prompt_token_ids.front(), (*tok)->bos_id());
  EXPECT_EQ(result.finish_reason, FinishReason::kLength);
  EXPECT_TRUE(result.text.has_value());
  if (text != nullptr) *text = result.text.value_or("");
  return result.output_token_ids;
}

TEST_F(MakeModelTest, GreedyGenerationIsDeterministicForASeed) {
  ASSERT_TRUE(Make("a", 3).ok());
  ASSERT_TRUE(Make("b", 3).ok());
  ASSERT_TRUE(Make("c", 4).ok());
  EXPECT_EQ(ReadFile(root_ / "a" / "model.safetensors"),
            ReadFile(root_ / "b" / "model.safetensors"));
  EXPECT_NE(ReadFile(root_ / "a" / "model.safetensors"),
            ReadFile(root_ / "c" / "model.safetensors"));
  // The seed changes the weights only.
  EXPECT_EQ(ReadFile(root_ / "a" / "tokenizer.json"), ReadFile(root_ / "c" / "tokenizer.json"));
  std::string text_a, text_b;
  const std::vector<int32_t> a = GreedyFromText(root_ / "a", &text_a);
  ASSERT_EQ(a.size(), 12u);
  EXPECT_EQ(GreedyFromText(root_ / "a"), a);
  EXPECT_EQ(GreedyFromText(root_ / "b", &text_b), a);
  EXPECT_EQ(text_a, text_b);
  for (int32_t id : a) EXPECT_LT(id, 2048);
}

TEST_F(MakeModelTest, OtherPresetsAndDtypesLoad) {
  MakeModelOptions o;
  o.dir = (root_ / "tiny").string();
  o.preset = "tiny-llama";
  o.dtype = "f32";
  auto made = MakeModel(o);
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_EQ(made->config.hidden_size, 64);
  EXPECT_EQ(made->config.vocab_size, 2048);
  CpuEngineOptions e;
  e.num_kv_blocks = 8;
  e.num_threads = 1;
  auto engine = CpuEngine::Load(o.dir, e);
  ASSERT_TRUE(engine.ok()) << engine.status();
  EXPECT_EQ((*engine)->config().hidden_size, 64);
}

TEST_F(MakeModelTest, IsIdempotentAndRefusesToOverwriteWithoutForce) {
  auto first = Make("m", 1);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->outcome, InstallOutcome::kCreated);
  auto again = Make("m", 1);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->outcome, InstallOutcome::kUnchanged);

  const std::string weights = ReadFile(root_ / "m" / "model.safetensors");
  auto other = Make("m", 2);
  ASSERT_TRUE(absl::IsAlreadyExists(other.status())) << other.status();
  EXPECT_NE(other.status().message().find("(model.safetensors differs); pass --force"),
            std::string::npos)
      << other.status();
  EXPECT_EQ(ReadFile(root_ / "m" / "model.safetensors"), weights);

  auto forced = Make("m", 2, /*force=*/true);
  ASSERT_TRUE(forced.ok()) << forced.status();
  EXPECT_EQ(forced->outcome, InstallOutcome::kReplaced);
  EXPECT_NE(ReadFile(root_ / "m" / "model.safetensors"), weights);
  auto now = Make("m", 2);
  ASSERT_TRUE(now.ok()) << now.status();
  EXPECT_EQ(now->outcome, InstallOutcome::kUnchanged);
}

TEST_F(MakeModelTest, ForceRemovesAShardIndexAndKeepsOtherFiles) {
  ASSERT_TRUE(Make("m").ok());
  std::ofstream(root_ / "m" / "model.safetensors.index.json") << "{}";
  std::ofstream(root_ / "m" / "README.md") << "mine";
  auto refused = Make("m");
  ASSERT_TRUE(absl::IsAlreadyExists(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("model.safetensors.index.json is present"),
            std::string::npos)
      << refused.status();
  auto forced = Make("m", 0, /*force=*/true);
  ASSERT_TRUE(forced.ok()) << forced.status();
  EXPECT_FALSE(fs::exists(root_ / "m" / "model.safetensors.index.json"));
  EXPECT_EQ(ReadFile(root_ / "m" / "README.md"), "mine");
  EXPECT_EQ(Make("m")->outcome, InstallOutcome::kUnchanged);
}

TEST_F(MakeModelTest, FillsAnEmptyDirectoryButNotAFullOne) {
  fs::create_directories(root_ / "empty");
  auto made = Make("empty");
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_EQ(made->outcome, InstallOutcome::kCreated);
  EXPECT_TRUE(fs::exists(root_ / "empty" / "tokenizer.json"));

  fs::create_directories(root_ / "full");
  std::ofstream(root_ / "full" / "notes.txt") << "x";
  auto refused = Make("full");
  ASSERT_TRUE(absl::IsAlreadyExists(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("config.json is missing"), std::string::npos)
      << refused.status();
  EXPECT_FALSE(fs::exists(root_ / "full" / "config.json"));
}

TEST_F(MakeModelTest, BadArgumentsNameTheProblem) {
  MakeModelOptions o;
  o.dir = (root_ / "m").string();
  o.preset = "huge";
  auto made = MakeModel(o);
  EXPECT_TRUE(absl::IsInvalidArgument(made.status()));
  EXPECT_NE(made.status().message().find("--preset: unknown \"huge\" (known: tiny-llama, "
                                         "llama-mini, llama-small, llama-3-8b, llama-3.2-1b)"),
            std::string::npos)
      << made.status();
  o.preset = "llama-mini";
  o.dtype = "int4";
  made = MakeModel(o);
  EXPECT_NE(made.status().message().find("--dtype: unknown \"int4\" (known: bf16, f16, f32)"),
            std::string::npos)
      << made.status();
  o.dtype = "bf16";
  o.dir = "";
  EXPECT_TRUE(absl::IsInvalidArgument(MakeModel(o).status()));
  std::ofstream(root_ / "file") << "x";
  o.dir = (root_ / "file").string();
  made = MakeModel(o);
  EXPECT_TRUE(absl::IsInvalidArgument(made.status()));
  EXPECT_NE(made.status().message().find("exists and is not a directory"), std::string::npos)
      << made.status();
  EXPECT_FALSE(fs::exists(root_ / "m"));
  // The command's exit codes: 2 for bad arguments and for a DIR holding something else.
  o.dir = (root_ / "m").string();
  o.preset = "huge";
  EXPECT_EQ(RunMakeModel(o), 2);
  o.preset = "llama-mini";
  EXPECT_EQ(RunMakeModel(o), 0);
  o.seed = 9;
  EXPECT_EQ(RunMakeModel(o), 2);
}

}  // namespace
}  // namespace tessera
