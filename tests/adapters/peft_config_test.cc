// adapter_config.json parsing: PEFT's module selection (list suffixes, regex fullmatch,
// all-linear, exclude_modules, layers_to_transform with layers_pattern), rank_pattern and
// alpha_pattern in file order, the rsLoRA scale, and every refused field.
#include "adapters/peft_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

constexpr char kQ0[] = "model.layers.0.self_attn.q_proj";
constexpr char kQ1[] = "model.layers.1.self_attn.q_proj";
constexpr char kK0[] = "model.layers.0.self_attn.k_proj";
constexpr char kV1[] = "model.layers.1.self_attn.v_proj";
constexpr char kDown0[] = "model.layers.0.mlp.down_proj";
constexpr char kUp1[] = "model.layers.1.mlp.up_proj";

// A config with `extra` fields (JSON members, no braces) after the essential ones.
std::string Config(const std::string& extra,
                   const std::string& targets = R"(["q_proj", "v_proj"])") {
  std::string s = R"({"peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": )" + targets;
  if (!extra.empty()) s += ", " + extra;
  return s + "}";
}

PeftLoraConfig MustParse(const std::string& json) {
  absl::StatusOr<PeftLoraConfig> c = ParsePeftLoraConfig(json, "adapter_config.json");
  EXPECT_TRUE(c.ok()) << c.status() << "\n" << json;
  return c.ok() ? *std::move(c) : PeftLoraConfig{};
}

TEST(PeftConfigTest, FixtureLikeConfigWithHarmlessFields) {
  const PeftLoraConfig c = MustParse(R"({
    "base_model_name_or_path": null, "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 16,
    "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": ["q_proj", "k_proj"],
    "bias": "none", "fan_in_fan_out": false, "use_rslora": false, "use_dora": false,
    "modules_to_save": null, "layers_to_transform": null, "layers_pattern": null,
    "rank_pattern": {}, "alpha_pattern": {}, "inference_mode": true, "init_lora_weights": true,
    "revision": null, "megatron_config": null, "loftq_config": {}, "exclude_modules": null,
    "lora_bias": false, "trainable_token_indices": null, "some_future_field": 3})");
  EXPECT_EQ(c.r, 16);
  EXPECT_EQ(c.lora_alpha, 32);
  EXPECT_FALSE(c.use_rslora);
  EXPECT_TRUE(c.Targets(kQ0));
  EXPECT_TRUE(c.Targets(kK0));
  EXPECT_FALSE(c.Targets(kV1));
  EXPECT_EQ(c.RankFor(kQ0), 16);
  EXPECT_DOUBLE_EQ(c.ScaleFor(kQ0), 2.0);
  EXPECT_EQ(c.MaxConfiguredRank(), 16);
}

TEST(PeftConfigTest, ListEntriesMatchTheWholePathOrADotSuffix) {
  const PeftLoraConfig c =
      MustParse(Config("", R"(["self_attn.q_proj", "model.layers.1.mlp.up_proj", "proj"])"));
  EXPECT_TRUE(c.Targets(kQ0));
  EXPECT_TRUE(c.Targets(kQ1));
  EXPECT_TRUE(c.Targets(kUp1));
  EXPECT_FALSE(c.Targets("model.layers.0.mlp.up_proj"));
  // "proj" is not a dot-separated suffix of "..q_proj".
  EXPECT_FALSE(c.Targets(kK0));
  EXPECT_FALSE(c.Targets(kDown0));
}

TEST(PeftConfigTest, RegexStringMustMatchTheWholePath) {
  const PeftLoraConfig c =
      MustParse(Config("", R"("model\\.layers\\.[0-9]+\\.(self_attn\\.(q|k)|mlp\\.down)_proj")"));
  EXPECT_TRUE(c.Targets(kQ0));
  EXPECT_TRUE(c.Targets(kK0));
  EXPECT_TRUE(c.Targets(kDown0));
  EXPECT_FALSE(c.Targets(kV1));
  EXPECT_FALSE(c.Targets(kUp1));
  // A bare name as a string is a regex: re.fullmatch("q_proj", path) fails, as in PEFT.
  const PeftLoraConfig bare = MustParse(Config("", R"("q_proj")"));
  EXPECT_FALSE(bare.Targets(kQ0));
  const PeftLoraConfig dotstar = MustParse(Config("", R"(".*\\.1\\..*")"));
  EXPECT_TRUE(dotstar.Targets(kQ1));
  EXPECT_FALSE(dotstar.Targets(kQ0));
}

// A pattern that backtracks exponentially (a DFS matcher would not finish on a 31-character path)
// runs in polynomial time: loading a hostile config cannot hang the daemon.
TEST(PeftConfigTest, CatastrophicBacktrackingPatternsFinish) {
  const PeftLoraConfig c = MustParse(
      Config(R"("rank_pattern": {"(.*.*)*(.*.*)*(.*.*)*y": 2})", R"("((.*)*(.*)*)*(.*)*x")"));
  EXPECT_FALSE(c.Targets(kQ0));
  EXPECT_EQ(c.RankFor(kQ0), 8);
}

TEST(PeftConfigTest, AllLinearTargetsEveryProjection) {
  const PeftLoraConfig c = MustParse(Config("", R"("ALL-LINEAR")"));
  EXPECT_TRUE(c.all_linear);
  for (const char* p : {kQ0, kK0, kV1, kDown0, kUp1}) EXPECT_TRUE(c.Targets(p)) << p;
}

TEST(PeftConfigTest, ExcludeModulesListAndRegex) {
  const PeftLoraConfig list =
      MustParse(Config(R"("exclude_modules": ["layers.1.self_attn.q_proj"])", R"(["q_proj"])"));
  EXPECT_TRUE(list.Targets(kQ0));
  EXPECT_FALSE(list.Targets(kQ1));
  const PeftLoraConfig re =
      MustParse(Config(R"("exclude_modules": ".*\\.0\\..*")", R"(["q_proj"])"));
  EXPECT_FALSE(re.Targets(kQ0));
  EXPECT_TRUE(re.Targets(kQ1));
}

TEST(PeftConfigTest, LayersToTransformIntOrListWithLayersPattern) {
  const PeftLoraConfig one = MustParse(Config(R"("layers_to_transform": 1)"));
  EXPECT_FALSE(one.Targets("model.layers.0.self_attn.v_proj"));
  EXPECT_TRUE(one.Targets(kV1));
  EXPECT_TRUE(one.Targets(kQ1));
  EXPECT_FALSE(one.Targets(kQ0));
  const PeftLoraConfig list =
      MustParse(Config(R"("layers_to_transform": [0, 2], "layers_pattern": "layers")"));
  EXPECT_TRUE(list.Targets(kQ0));
  EXPECT_TRUE(list.Targets("model.layers.2.self_attn.q_proj"));
  EXPECT_FALSE(list.Targets(kQ1));
  // A layers_pattern the paths do not contain finds no layer index: nothing is targeted.
  const PeftLoraConfig h =
      MustParse(Config(R"("layers_to_transform": [0], "layers_pattern": ["h"])"));
  EXPECT_FALSE(h.Targets(kQ0));
  // An empty list means every layer.
  const PeftLoraConfig empty = MustParse(Config(R"("layers_to_transform": [])"));
  EXPECT_TRUE(empty.Targets(kQ1));
  // A path listed whole is targeted whatever layers_to_transform says (PEFT checks it first).
  const PeftLoraConfig whole = MustParse(
      Config(R"("layers_to_transform": [0])", R"(["q_proj", "model.layers.1.self_attn.v_proj"])"));
  EXPECT_TRUE(whole.Targets(kV1));
  EXPECT_FALSE(whole.Targets(kQ1));
}

TEST(PeftConfigTest, RankAndAlphaPatternsFirstMatchInFileOrder) {
  // The general key comes first, so it wins for layer 1 as well.
  const PeftLoraConfig general_first = MustParse(Config(
      R"("rank_pattern": {"q_proj": 4, "model.layers.1.self_attn.q_proj": 32},
         "alpha_pattern": {"layers.1.self_attn.q_proj": 64})"));
  EXPECT_EQ(general_first.RankFor(kQ0), 4);
  EXPECT_EQ(general_first.RankFor(kQ1), 4);
  EXPECT_EQ(general_first.RankFor(kV1), 8);
  EXPECT_EQ(general_first.AlphaFor(kQ1), 64);
  EXPECT_EQ(general_first.AlphaFor(kQ0), 16);
  EXPECT_DOUBLE_EQ(general_first.ScaleFor(kQ1), 16.0);
  EXPECT_DOUBLE_EQ(general_first.ScaleFor(kQ0), 4.0);
  EXPECT_EQ(general_first.MaxConfiguredRank(), 32);
  // Reversed: the specific key comes first (nlohmann's sorted maps would lose this order).
  const PeftLoraConfig specific_first =
      MustParse(Config(R"("rank_pattern": {"model.layers.1.self_attn.q_proj": 32, "q_proj": 4})"));
  EXPECT_EQ(specific_first.RankFor(kQ1), 32);
  EXPECT_EQ(specific_first.RankFor(kQ0), 4);
}

TEST(PeftConfigTest, PatternKeysAreRegexesOverDotSuffixes) {
  const PeftLoraConfig c = MustParse(Config(R"("rank_pattern": {"._proj": 2, "layers\\.1\\..*": 3,
                                                  "proj": 5})"));
  EXPECT_EQ(c.RankFor(kQ0), 2);     // "q_proj" matches "._proj"
  EXPECT_EQ(c.RankFor(kDown0), 8);  // "down_proj" does not; "proj" is no dot suffix
  EXPECT_EQ(c.RankFor("model.layers.1.mlp.gate_proj"), 3);
}

TEST(PeftConfigTest, RsloraScalesByTheSquareRootOfTheRank) {
  const PeftLoraConfig c =
      MustParse(Config(R"("use_rslora": true, "rank_pattern": {"v_proj": 4})"));
  EXPECT_DOUBLE_EQ(c.ScaleFor(kQ0), 16.0 / std::sqrt(8.0));
  EXPECT_DOUBLE_EQ(c.ScaleFor(kV1), 8.0);
}

TEST(PeftConfigTest, ScaleIsBoundedSoTheModelCannotOverflow) {
  // At the bound is fine (r 8: alpha 8e4; rsLoRA: alpha 1e4 * sqrt(8)).
  EXPECT_DOUBLE_EQ(MustParse(Config(R"("lora_alpha": 80000)")).ScaleFor(kQ0), kMaxLoraScale);
  MustParse(Config(R"("lora_alpha": 28284, "use_rslora": true)"));
  for (const auto& [fields, message] : std::vector<std::pair<std::string, std::string>>{
           {R"("lora_alpha": 1e38)", "\"lora_alpha\" 1e+38 with \"r\" 8 gives the scale 1.25e+37"},
           {R"("lora_alpha": 80001)", "gives the scale 10000.1 (lora_alpha / r)"},
           {R"("lora_alpha": 28285, "use_rslora": true)", "(lora_alpha / sqrt(r))"}}) {
    absl::StatusOr<PeftLoraConfig> c = ParsePeftLoraConfig(Config(fields), "cfg.json");
    ASSERT_FALSE(c.ok()) << fields;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(c.status().message(), HasSubstr(message));
    EXPECT_THAT(c.status().message(), HasSubstr("above the bound 10000"));
  }
}

TEST(PeftConfigTest, FanInFanOutIsAccepted) {
  EXPECT_TRUE(MustParse(Config(R"("fan_in_fan_out": true)")).fan_in_fan_out);
}

TEST(PeftConfigTest, DefaultsFollowPeft) {
  const PeftLoraConfig c = MustParse(R"({"peft_type": "LORA", "target_modules": ["q_proj"]})");
  EXPECT_EQ(c.r, 8);
  EXPECT_EQ(c.lora_alpha, 8);
  EXPECT_TRUE(MustParse(Config(R"("modules_to_save": [])")).Targets(kQ0));
}

struct Refusal {
  std::string json;
  std::string message;  // a substring of the error
};

class PeftConfigRefusalTest : public ::testing::TestWithParam<Refusal> {};

TEST_P(PeftConfigRefusalTest, IsInvalidArgumentNamingTheField) {
  absl::StatusOr<PeftLoraConfig> c = ParsePeftLoraConfig(GetParam().json, "cfg.json");
  ASSERT_FALSE(c.ok()) << GetParam().json;
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr("cfg.json"));
  EXPECT_THAT(c.status().message(), HasSubstr(GetParam().message)) << GetParam().json;
}

INSTANTIATE_TEST_SUITE_P(
    All, PeftConfigRefusalTest,
    ::testing::Values(
        Refusal{"not json", "not valid JSON"}, Refusal{"[1]", "must be a JSON object"},
        Refusal{R"({"r": 8, "target_modules": ["q_proj"]})", "\"peft_type\" is required"},
        Refusal{R"({"peft_type": "LOHA", "target_modules": ["q_proj"]})", "\"LOHA\""},
        Refusal{R"({"peft_type": "PROMPT_TUNING"})", "only LoRA"},
        Refusal{R"({"peft_type": 3, "target_modules": ["q_proj"]})", "\"peft_type\" must be"},
        Refusal{Config(R"("bias": "all")"), "\"bias\" is \"all\""},
        Refusal{Config(R"("bias": "lora_only")"), "only \"none\""},
        Refusal{Config(R"("use_dora": true)"), "\"use_dora\" is set"},
        Refusal{Config(R"("modules_to_save": ["lm_head"])"), "\"modules_to_save\" is set"},
        Refusal{Config(R"("lora_bias": true)"), "\"lora_bias\""},
        Refusal{Config(R"("use_qalora": true)"), "\"use_qalora\""},
        Refusal{Config(R"("layer_replication": [[0, 2]])"), "\"layer_replication\""},
        Refusal{Config(R"("target_parameters": ["experts.w1"])"), "\"target_parameters\""},
        Refusal{Config(R"("trainable_token_indices": [5])"), "\"trainable_token_indices\""},
        Refusal{Config(R"("alora_invocation_tokens": [1, 2])"), "\"alora_invocation_tokens\""},
        Refusal{Config(R"("r": 0)"), "\"r\" (0) must be in"},
        Refusal{Config(R"("r": "8")"), "\"r\" must be an integer"},
        Refusal{Config(R"("r": 8.5)"), "\"r\" must be an integer"},
        Refusal{Config(R"("lora_alpha": -1)"), "\"lora_alpha\" must be a positive number"},
        Refusal{Config(R"("use_rslora": "yes")"), "\"use_rslora\" must be true or false"},
        Refusal{R"({"peft_type": "LORA", "r": 8})", "\"target_modules\" is required"},
        Refusal{Config("", "null"), "\"target_modules\" is required"},
        Refusal{Config("", "5"), "\"target_modules\" must be a list"},
        Refusal{Config("", "[]"), "\"target_modules\" is empty"},
        Refusal{Config("", "[1]"), "\"target_modules\" entries must be non-empty strings"},
        Refusal{Config("", R"("(q_proj")"), "\"target_modules\" \"(q_proj\" is not a valid regex"},
        Refusal{Config("", R"("(q)\\1")"), "is not a valid regex"},  // back-reference
        Refusal{Config("", R"x("(?P<x>q_proj)")x"), "is not a valid regex"},
        Refusal{Config("", "\"" + std::string(2000, 'a') + "\""), "longer than 1024"},
        Refusal{Config(R"("exclude_modules": "[")"), "\"exclude_modules\""},
        Refusal{Config(R"("rank_pattern": {"q_proj": 0})"), "\"rank_pattern.q_proj\" (0)"},
        Refusal{Config(R"("rank_pattern": {"q_proj": "4"})"), "\"rank_pattern.q_proj\" must be"},
        Refusal{Config(R"("rank_pattern": {"(": 4})"), "\"rank_pattern\" key"},
        Refusal{Config(R"("rank_pattern": [4])"), "\"rank_pattern\" must be an object"},
        Refusal{Config(R"("alpha_pattern": {"q_proj": "x"})"), "\"alpha_pattern.q_proj\""},
        Refusal{Config(R"("alpha_pattern": {"q_proj": 0})"), "\"alpha_pattern.q_proj\""},
        Refusal{Config(R"("layers_to_transform": -1)"), "\"layers_to_transform\" (-1)"},
        Refusal{Config(R"("layers_to_transform": [0, "1"])"), "\"layers_to_transform\" must be"},
        Refusal{Config(R"("layers_pattern": 3)"), "\"layers_pattern\" must be"},
        Refusal{Config(R"("layers_pattern": "(")"), "\"layers_pattern\""}));

}  // namespace
}  // namespace tessera
