#include "engine/model_config.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessera {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Fields of a config as raw JSON text, so a test can override or drop any of them.
using RawFields = std::map<std::string, std::string>;

RawFields LlamaFields() {
  return {
      {"architectures", R"(["LlamaForCausalLM"])"},
      {"model_type", R"("llama")"},
      {"vocab_size", "32000"},
      {"hidden_size", "64"},
      {"intermediate_size", "192"},
      {"num_hidden_layers", "2"},
      {"num_attention_heads", "4"},
      {"num_key_value_heads", "2"},
      {"hidden_act", R"("silu")"},
  };
}

RawFields MistralFields() {
  RawFields f = LlamaFields();
  f["architectures"] = R"(["MistralForCausalLM"])";
  f["model_type"] = R"("mistral")";
  return f;
}

RawFields Qwen2Fields() {
  RawFields f = LlamaFields();
  f["architectures"] = R"(["Qwen2ForCausalLM"])";
  f["model_type"] = R"("qwen2")";
  f["num_hidden_layers"] = "4";
  return f;
}

std::string ToJson(const RawFields& fields) {
  std::string out = "{";
  for (const auto& [key, value] : fields) {
    if (out.size() > 1) out += ", ";
    out += "\"" + key + "\": " + value;
  }
  return out + "}";
}

absl::StatusOr<ModelConfig> Parse(const RawFields& fields) {
  return ParseModelConfig(ToJson(fields), "config.json");
}

// Expects InvalidArgument with every one of `parts` in the message.
void ExpectError(const absl::StatusOr<ModelConfig>& result, const std::vector<std::string>& parts) {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << result.status();
  for (const std::string& part : parts) {
    EXPECT_THAT(std::string(result.status().message()), HasSubstr(part));
  }
}

void ExpectFieldError(RawFields fields, const std::string& key, const std::string& value,
                      const std::string& field_in_message) {
  if (value.empty()) {
    fields.erase(key);
  } else {
    fields[key] = value;
  }
  SCOPED_TRACE(key + " = " + value);
  ExpectError(Parse(fields), {"config.json: ", field_in_message});
}

std::string FixturePath(const std::string& model) {
  return std::string(TESSERA_FIXTURES_DIR) + "/models/" + model;
}

TEST(ModelConfigFixtureTest, TinyLlama) {
  const std::string dir = FixturePath("tiny-llama");
  if (!std::filesystem::exists(dir + "/config.json")) {
    GTEST_SKIP() << "fixture missing: " << dir << "/config.json";
  }
  absl::StatusOr<ModelConfig> c = LoadModelConfig(dir);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->architecture, "LlamaForCausalLM");
  EXPECT_EQ(c->model_type, "llama");
  EXPECT_EQ(c->vocab_size, 32000);
  EXPECT_EQ(c->hidden_size, 64);
  EXPECT_EQ(c->intermediate_size, 192);
  EXPECT_EQ(c->num_hidden_layers, 2);
  EXPECT_EQ(c->num_attention_heads, 4);
  EXPECT_EQ(c->num_key_value_heads, 2);
  EXPECT_EQ(c->head_dim, 64);  // explicit, not hidden_size / heads = 16
  EXPECT_EQ(c->q_size(), 256);
  EXPECT_EQ(c->kv_size(), 128);
  EXPECT_EQ(c->group_size(), 2);
  EXPECT_DOUBLE_EQ(c->rms_norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(c->rope_theta, 1e4);
  EXPECT_EQ(c->rope_scaling.type, RopeScalingType::kNone);
  EXPECT_EQ(c->max_position_embeddings, 4096);
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_FALSE(c->qkv_bias);
  EXPECT_FALSE(c->o_bias);
  EXPECT_FALSE(c->mlp_bias);
  EXPECT_THAT(c->layer_sliding_window, ElementsAre(0, 0));
  EXPECT_EQ(c->bos_token_id, 1);
  EXPECT_THAT(c->eos_token_ids, ElementsAre(2));
}

TEST(ModelConfigFixtureTest, TinyQwen2) {
  const std::string dir = FixturePath("tiny-qwen2");
  if (!std::filesystem::exists(dir + "/config.json")) {
    GTEST_SKIP() << "fixture missing: " << dir << "/config.json";
  }
  absl::StatusOr<ModelConfig> c = LoadModelConfig(dir);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->architecture, "Qwen2ForCausalLM");
  EXPECT_EQ(c->model_type, "qwen2");
  EXPECT_EQ(c->hidden_size, 128);
  EXPECT_EQ(c->intermediate_size, 320);
  EXPECT_EQ(c->num_hidden_layers, 2);
  EXPECT_EQ(c->num_attention_heads, 2);
  EXPECT_EQ(c->num_key_value_heads, 1);
  EXPECT_EQ(c->head_dim, 64);
  EXPECT_DOUBLE_EQ(c->rope_theta, 1e6);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_TRUE(c->qkv_bias);  // even though the file says attention_bias: false
  EXPECT_FALSE(c->o_bias);
  EXPECT_FALSE(c->mlp_bias);
  EXPECT_THAT(c->layer_sliding_window, ElementsAre(0, 0));
  EXPECT_THAT(c->eos_token_ids, ElementsAre(2));
}

TEST(ModelConfigTest, ArchitectureDefaults) {
  absl::StatusOr<ModelConfig> llama = Parse(LlamaFields());
  ASSERT_TRUE(llama.ok()) << llama.status();
  EXPECT_EQ(llama->head_dim, 16);
  EXPECT_DOUBLE_EQ(llama->rms_norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(llama->rope_theta, 10000.0);
  EXPECT_EQ(llama->max_position_embeddings, 2048);
  EXPECT_FALSE(llama->tie_word_embeddings);
  EXPECT_EQ(llama->bos_token_id, 1);  // LlamaConfig's defaults when absent
  EXPECT_THAT(llama->eos_token_ids, ElementsAre(2));

  RawFields mistral_fields = MistralFields();
  mistral_fields["num_attention_heads"] = "16";
  mistral_fields.erase("num_key_value_heads");
  absl::StatusOr<ModelConfig> mistral = Parse(mistral_fields);
  ASSERT_TRUE(mistral.ok()) << mistral.status();
  EXPECT_EQ(mistral->max_position_embeddings, 4096 * 32);
  EXPECT_EQ(mistral->num_key_value_heads, 8);  // MistralConfig's default when absent
  EXPECT_FALSE(mistral->qkv_bias || mistral->o_bias || mistral->mlp_bias);

  RawFields qwen2_fields = Qwen2Fields();
  qwen2_fields["attention_bias"] = "true";
  absl::StatusOr<ModelConfig> qwen2 = Parse(qwen2_fields);
  ASSERT_TRUE(qwen2.ok()) << qwen2.status();
  EXPECT_EQ(qwen2->max_position_embeddings, 32768);
  EXPECT_TRUE(qwen2->qkv_bias);
  EXPECT_FALSE(qwen2->o_bias);  // attention_bias does not reach o_proj in Qwen2
  EXPECT_EQ(qwen2->bos_token_id, -1);
  EXPECT_TRUE(qwen2->eos_token_ids.empty());
}

TEST(ModelConfigTest, LlamaBiases) {
  RawFields f = LlamaFields();
  f["attention_bias"] = "true";
  f["mlp_bias"] = "true";
  absl::StatusOr<ModelConfig> c = Parse(f);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->qkv_bias);
  EXPECT_TRUE(c->o_bias);
  EXPECT_TRUE(c->mlp_bias);
  ExpectFieldError(f, "attention_bias", "1", "\"attention_bias\"");
}

TEST(ModelConfigTest, Llama3RopeScaling) {
  RawFields f = LlamaFields();
  f["rope_theta"] = "500000.0";
  f["max_position_embeddings"] = "131072";
  f["rope_scaling"] = R"({"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
      "original_max_position_embeddings": 8192, "rope_type": "llama3"})";
  absl::StatusOr<ModelConfig> c = Parse(f);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_DOUBLE_EQ(c->rope_theta, 500000.0);
  EXPECT_EQ(c->rope_scaling.type, RopeScalingType::kLlama3);
  EXPECT_DOUBLE_EQ(c->rope_scaling.factor, 8.0);
  EXPECT_DOUBLE_EQ(c->rope_scaling.low_freq_factor, 1.0);
  EXPECT_DOUBLE_EQ(c->rope_scaling.high_freq_factor, 4.0);
  EXPECT_EQ(c->rope_scaling.original_max_position_embeddings, 8192);

  f["rope_scaling"] = R"({"factor": 8.0, "high_freq_factor": 4.0,
      "original_max_position_embeddings": 8192, "rope_type": "llama3"})";
  ExpectError(Parse(f), {"\"rope_scaling.low_freq_factor\" is required"});
  f["rope_scaling"] = R"({"factor": 8.0, "low_freq_factor": 4.0, "high_freq_factor": 4.0,
      "original_max_position_embeddings": 8192, "rope_type": "llama3"})";
  ExpectError(Parse(f), {"low_freq_factor", "high_freq_factor"});
  f["rope_scaling"] = R"({"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
      "original_max_position_embeddings": 8192.5, "rope_type": "llama3"})";
  ExpectError(Parse(f), {"\"rope_scaling.original_max_position_embeddings\""});
}

TEST(ModelConfigTest, LinearRopeScaling) {
  RawFields f = LlamaFields();
  f["rope_scaling"] = R"({"type": "linear", "factor": 2})";  // legacy "type" key
  absl::StatusOr<ModelConfig> c = Parse(f);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rope_scaling.type, RopeScalingType::kLinear);
  EXPECT_DOUBLE_EQ(c->rope_scaling.factor, 2.0);

  f["rope_scaling"] = R"({"type": "linear"})";
  ExpectError(Parse(f), {"\"rope_scaling.factor\" is required"});
  f["rope_scaling"] = R"({"type": "linear", "factor": "2"})";
  ExpectError(Parse(f), {"\"rope_scaling.factor\" must be a positive number"});
  f["rope_scaling"] = R"({"type": "linear", "factor": -1})";
  ExpectError(Parse(f), {"\"rope_scaling.factor\""});
  f["rope_scaling"] = R"("linear")";
  ExpectError(Parse(f), {"\"rope_scaling\" must be an object"});
  f["rope_scaling"] = R"({"rope_type": "default"})";
  ASSERT_TRUE(Parse(f).ok());
  EXPECT_EQ(Parse(f)->rope_scaling.type, RopeScalingType::kNone);
}

TEST(ModelConfigTest, RopeParametersTransformers5) {
  RawFields f = LlamaFields();
  f["rope_parameters"] = R"({"rope_type": "llama3", "rope_theta": 500000.0, "factor": 32.0,
      "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})";
  absl::StatusOr<ModelConfig> c = Parse(f);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_DOUBLE_EQ(c->rope_theta, 500000.0);
  EXPECT_EQ(c->rope_scaling.type, RopeScalingType::kLlama3);
  EXPECT_DOUBLE_EQ(c->rope_scaling.factor, 32.0);

  // As in transformers 5 (`rope_scaling or rope_parameters`), a non-empty legacy rope_scaling
  // wins; rope_theta then comes from the top level.
  f["rope_parameters"] = R"({"rope_type": "default", "rope_theta": 1000000.0})";
  f["rope_theta"] = "10000.0";
  f["rope_scaling"] = R"({"type": "linear", "factor": 4.0})";
  c = Parse(f);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_DOUBLE_EQ(c->rope_theta, 1e4);
  EXPECT_EQ(c->rope_scaling.type, RopeScalingType::kLinear);
  // An empty (or null) rope_scaling leaves rope_parameters in charge.
  f["rope_scaling"] = "{}";
  c = Parse(f);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_DOUBLE_EQ(c->rope_theta, 1e6);
  EXPECT_EQ(c->rope_scaling.type, RopeScalingType::kNone);
  f.erase("rope_scaling");

  // Without rope_theta inside, the top-level one still counts.
  f["rope_parameters"] = R"({"rope_type": "default"})";
  f["rope_theta"] = "250000";
  c = Parse(f);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_DOUBLE_EQ(c->rope_theta, 250000.0);

  f["rope_parameters"] = R"({"rope_type": "default", "rope_theta": "big"})";
  ExpectError(Parse(f), {"\"rope_parameters.rope_theta\""});
  f["rope_parameters"] = R"({"rope_type": "default", "partial_rotary_factor": 0.5})";
  ExpectError(Parse(f), {"\"rope_parameters.partial_rotary_factor\""});
  f["rope_parameters"] = R"({"rope_type": "yarn", "factor": 4.0})";
  ExpectError(Parse(f), {"rope_parameters type \"yarn\" is not supported"});
}

TEST(ModelConfigTest, UnsupportedRopeTypes) {
  for (const char* type : {"yarn", "dynamic", "longrope", "su"}) {
    RawFields f = LlamaFields();
    f["rope_scaling"] = std::string(R"({"rope_type": ")") + type +
                        R"(", "factor": 4.0, "original_max_position_embeddings": 4096})";
    ExpectError(Parse(f), {std::string("rope_scaling type \"") + type +
                           "\" is not supported (supported: default, linear, llama3)"});
  }
}

TEST(ModelConfigTest, RequiredAndWrongTypedIntegers) {
  const RawFields f = LlamaFields();
  for (const char* key : {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                          "num_attention_heads"}) {
    const std::string quoted = std::string("\"") + key + "\"";
    ExpectFieldError(f, key, "", quoted + " is required");
    ExpectFieldError(f, key, R"("64")", quoted + " must be an integer, got string \"64\"");
    ExpectFieldError(f, key, "4.0", quoted + " must be an integer");
    ExpectFieldError(f, key, "true", quoted);
    ExpectFieldError(f, key, "null", quoted);
    ExpectFieldError(f, key, "[4]", quoted);
    ExpectFieldError(f, key, "0", quoted);
    ExpectFieldError(f, key, "-4", quoted);
    ExpectFieldError(f, key, "18446744073709551615", quoted);
    ExpectFieldError(f, key, "1e3", quoted);
  }
  ExpectFieldError(f, "hidden_size", "33554432", "\"hidden_size\" (33554432) must be in");
  ExpectFieldError(f, "num_hidden_layers", "5000", "\"num_hidden_layers\"");
  ExpectFieldError(f, "max_position_embeddings", "4096.0", "\"max_position_embeddings\"");
  ExpectFieldError(f, "rms_norm_eps", R"("1e-5")", "\"rms_norm_eps\"");
  ExpectFieldError(f, "rms_norm_eps", "0", "\"rms_norm_eps\"");
  ExpectFieldError(f, "rope_theta", "-1", "\"rope_theta\"");
  ExpectFieldError(f, "tie_word_embeddings", R"("false")", "\"tie_word_embeddings\"");
  ExpectFieldError(f, "model_type", "3", "\"model_type\"");
}

TEST(ModelConfigTest, KeyValueHeads) {
  RawFields f = LlamaFields();
  f["num_key_value_heads"] = "3";
  absl::StatusOr<ModelConfig> c = Parse(f);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "config.json: \"num_key_value_heads\" (3) must divide \"num_attention_heads\" (4)");
  f["num_key_value_heads"] = "null";
  c = Parse(f);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->num_key_value_heads, 4);
  f.erase("num_key_value_heads");
  c = Parse(f);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->num_key_value_heads, 4);
  ExpectFieldError(f, "num_key_value_heads", "0", "\"num_key_value_heads\"");
  ExpectFieldError(f, "num_key_value_heads", "2.0", "\"num_key_value_heads\"");
}

TEST(ModelConfigTest, HeadDim) {
  RawFields f = LlamaFields();
  f["head_dim"] = "63";
  ExpectError(Parse(f), {"\"head_dim\" (63) must be even"});
  f["head_dim"] = "32";
  absl::StatusOr<ModelConfig> c = Parse(f);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->head_dim, 32);
  EXPECT_EQ(c->q_size(), 128);
  f["head_dim"] = "null";
  c = Parse(f);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->head_dim, 16);
  f.erase("head_dim");
  c = Parse(f);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->head_dim, 16);

  f["hidden_size"] = "66";  // 66 / 4 is not whole
  ExpectError(Parse(f), {"\"hidden_size\" (66)", "\"num_attention_heads\" (4)", "\"head_dim\""});
  f["hidden_size"] = "68";  // 68 / 4 = 17 is odd
  ExpectError(Parse(f), {"\"head_dim\" (17, derived) must be even"});
  f["head_dim"] = R"("16")";
  ExpectError(Parse(f), {"\"head_dim\" must be an integer"});
}

TEST(ModelConfigTest, MistralSlidingWindow) {
  RawFields f = MistralFields();
  f["num_hidden_layers"] = "3";
  f["sliding_window"] = "4096";
  absl::StatusOr<ModelConfig> c = Parse(f);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->layer_sliding_window, ElementsAre(4096, 4096, 4096));
  f["sliding_window"] = "null";  // Mistral 7B v0.2+
  c = Parse(f);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->layer_sliding_window, ElementsAre(0, 0, 0));
  f.erase("sliding_window");  // MistralConfig's default
  c = Parse(f);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->layer_sliding_window, ElementsAre(4096, 4096, 4096));
  ExpectFieldError(f, "sliding_window", "0", "\"sliding_window\"");
  ExpectFieldError(f, "sliding_window", R"("4096")", "\"sliding_window\"");
}

TEST(ModelConfigTest, Qwen2UseSlidingWindow) {
  RawFields f = Qwen2Fields();
  f["use_sliding_window"] = "true";
  f["sliding_window"] = "1024";
  f["max_window_layers"] = "2";
  absl::StatusOr<ModelConfig> c = Parse(f);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->layer_sliding_window, ElementsAre(0, 0, 1024, 1024));

  f["use_sliding_window"] = "false";  // sliding_window is then ignored
  c = Parse(f);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->layer_sliding_window, ElementsAre(0, 0, 0, 0));

  f["use_sliding_window"] = "true";
  f.erase("max_window_layers");  // default 28: no layer of four slides
  c = Parse(f);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->layer_sliding_window, ElementsAre(0, 0, 0, 0));
  ExpectFieldError(f, "use_sliding_window", "1", "\"use_sliding_window\"");
  ExpectFieldError(f, "max_window_layers", "-1", "\"max_window_layers\"");
}

TEST(ModelConfigTest, LayerTypes) {
  RawFields f = Qwen2Fields();
  f["use_sliding_window"] = "true";
  f["sliding_window"] = "512";
  f["max_window_layers"] = "0";  // layer_types overrides it
  f["layer_types"] =
      R"(["full_attention", "sliding_attention", "full_attention", "sliding_attention"])";
  absl::StatusOr<ModelConfig> c = Parse(f);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->layer_sliding_window, ElementsAre(0, 512, 0, 512));

  f["use_sliding_window"] = "false";
  ExpectError(Parse(f), {"\"layer_types[1]\"", "\"sliding_window\"", "use_sliding_window"});
  f["use_sliding_window"] = "true";
  f["sliding_window"] = "null";
  ExpectError(Parse(f), {"\"layer_types[1]\"", "\"sliding_window\""});
  f["sliding_window"] = "512";

  f["layer_types"] = R"(["full_attention", "full_attention"])";
  ExpectError(Parse(f), {"\"layer_types\" has 2 entries", "\"num_hidden_layers\" is 4"});
  f["layer_types"] =
      R"(["full_attention", "chunked_attention", "full_attention", "full_attention"])";
  ExpectError(Parse(f), {"\"layer_types[1]\" \"chunked_attention\" is not supported"});
  f["layer_types"] = R"(["full_attention", 1, "full_attention", "full_attention"])";
  ExpectError(Parse(f), {"\"layer_types[1]\" must be a string"});
  f["layer_types"] = R"("full_attention")";
  ExpectError(Parse(f), {"\"layer_types\" must be a list"});

  RawFields llama = LlamaFields();
  llama["layer_types"] = R"(["full_attention", "full_attention"])";
  c = Parse(llama);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->layer_sliding_window, ElementsAre(0, 0));
  llama["sliding_window"] = "128";
  llama["layer_types"] = R"(["sliding_attention", "full_attention"])";
  ExpectError(Parse(llama), {"\"layer_types[0]\"", "LlamaForCausalLM"});
}

TEST(ModelConfigTest, SpecialTokens) {
  RawFields f = LlamaFields();
  f["bos_token_id"] = "null";
  f["eos_token_id"] = "[128001, 128008, 128009, 128001]";
  absl::StatusOr<ModelConfig> c = Parse(f);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->bos_token_id, -1);
  EXPECT_THAT(c->eos_token_ids, ElementsAre(128001, 128008, 128009));

  f["bos_token_id"] = "128000";
  f["eos_token_id"] = "null";
  c = Parse(f);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->bos_token_id, 128000);
  EXPECT_TRUE(c->eos_token_ids.empty());

  ExpectFieldError(f, "eos_token_id", R"([2, "3"])", "\"eos_token_id[1]\"");
  ExpectFieldError(f, "eos_token_id", "[2, null]", "\"eos_token_id[1]\"");
  ExpectFieldError(f, "eos_token_id", "-1", "\"eos_token_id\"");
  ExpectFieldError(f, "eos_token_id", "2.0", "\"eos_token_id\"");
  ExpectFieldError(f, "eos_token_id", R"({"id": 2})", "\"eos_token_id\"");
  ExpectFieldError(f, "bos_token_id", R"("<s>")", "\"bos_token_id\"");
}

TEST(ModelConfigTest, Architectures) {
  RawFields f = LlamaFields();
  f["architectures"] = R"(["GPT2LMHeadModel"])";
  f.erase("model_type");
  ExpectError(Parse(f), {"\"architectures\"", "\"GPT2LMHeadModel\"", "LlamaForCausalLM",
                         "MistralForCausalLM", "Qwen2ForCausalLM"});
  f["architectures"] = R"([])";
  ExpectError(Parse(f), {"\"architectures\""});
  f["architectures"] = R"("LlamaForCausalLM")";
  ExpectError(Parse(f), {"\"architectures\" must be a list"});
  f["architectures"] = R"([7])";
  ExpectError(Parse(f), {"\"architectures[0]\" must be a string"});
  f.erase("architectures");
  ExpectError(Parse(f), {"\"architectures\" is required"});

  f["architectures"] = R"(["SomethingElse", "MistralForCausalLM"])";
  absl::StatusOr<ModelConfig> c = Parse(f);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->architecture, "MistralForCausalLM");
  EXPECT_EQ(c->model_type, "mistral");

  f["model_type"] = R"("llama")";  // transformers would load this as a Llama
  ExpectError(Parse(f), {"\"model_type\" \"llama\"", "MistralForCausalLM"});
}

TEST(ModelConfigTest, HiddenActivation) {
  const RawFields f = LlamaFields();
  ExpectFieldError(f, "hidden_act", R"("gelu")", "\"hidden_act\" \"gelu\" is not supported");
  ExpectFieldError(f, "hidden_act", "null", "\"hidden_act\"");
  ExpectFieldError(f, "hidden_activation", R"("gelu_pytorch_tanh")", "\"hidden_activation\"");
  RawFields g = f;
  g.erase("hidden_act");
  g["hidden_activation"] = R"("silu")";
  EXPECT_TRUE(Parse(g).ok());
}

TEST(ModelConfigTest, MalformedDocuments) {
  for (const char* text : {"", "{", "{\"vocab_size\": 1,}", "nul", "{\"a\": \"\xff\"}"}) {
    absl::StatusOr<ModelConfig> c = ParseModelConfig(text, "config.json");
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_THAT(std::string(c.status().message()), HasSubstr("config.json: not valid JSON"));
  }
  for (const char* text : {"[]", "[{\"hidden_size\": 64}]", "42", "\"config\"", "null"}) {
    absl::StatusOr<ModelConfig> c = ParseModelConfig(text, "config.json");
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_THAT(std::string(c.status().message()), HasSubstr("must be a JSON object")) << text;
  }
  // Deep nesting in an ignored field must not crash.
  RawFields f = LlamaFields();
  f["junk"] = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_TRUE(Parse(f).ok());
  f["hidden_size"] = f["junk"];
  ExpectError(Parse(f), {"\"hidden_size\" must be an integer, got array"});
}

// A fresh directory under the test temp dir.
std::filesystem::path MakeModelDir(const std::string& name) {
  std::filesystem::path dir = std::filesystem::path(testing::TempDir()) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

TEST(LoadModelConfigTest, GenerationConfigAddsEosIds) {
  const std::filesystem::path dir = MakeModelDir("model_config_test_gen");
  RawFields f = LlamaFields();
  f["eos_token_id"] = "[2, 3]";
  WriteFile(dir / "config.json", ToJson(f));
  WriteFile(dir / "generation_config.json",
            R"({"bos_token_id": 1, "eos_token_id": [3, 7, 2, 8], "do_sample": true})");
  absl::StatusOr<ModelConfig> c = LoadModelConfig(dir.string());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->eos_token_ids, ElementsAre(2, 3, 7, 8));

  WriteFile(dir / "generation_config.json", R"({"eos_token_id": 9})");
  c = LoadModelConfig(dir.string());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->eos_token_ids, ElementsAre(2, 3, 9));

  WriteFile(dir / "generation_config.json", R"({"do_sample": false})");
  c = LoadModelConfig(dir.string());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->eos_token_ids, ElementsAre(2, 3));

  std::filesystem::remove(dir / "generation_config.json");
  c = LoadModelConfig(dir.string());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->eos_token_ids, ElementsAre(2, 3));
}

TEST(LoadModelConfigTest, MalformedGenerationConfig) {
  const std::filesystem::path dir = MakeModelDir("model_config_test_bad_gen");
  WriteFile(dir / "config.json", ToJson(LlamaFields()));
  for (const char* text : {"{\"eos_token_id\": ", "[1, 2]", R"({"eos_token_id": "2"})",
                           R"({"eos_token_id": [2, 1.5]})"}) {
    WriteFile(dir / "generation_config.json", text);
    absl::StatusOr<ModelConfig> c = LoadModelConfig(dir.string());
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(c.status().message()), HasSubstr("generation_config.json")) << text;
  }
  std::filesystem::remove(dir / "generation_config.json");
  std::filesystem::create_directory(dir / "generation_config.json");
  EXPECT_FALSE(LoadModelConfig(dir.string()).ok());
}

TEST(LoadModelConfigTest, ErrorsNameTheFile) {
  const std::filesystem::path dir = MakeModelDir("model_config_test_missing");
  absl::StatusOr<ModelConfig> c = LoadModelConfig(dir.string());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr((dir / "config.json").string()));

  RawFields f = LlamaFields();
  f["hidden_size"] = "\"64\"";
  WriteFile(dir / "config.json", ToJson(f));
  c = LoadModelConfig(dir.string());
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr((dir / "config.json").string() + ": \"hidden_size\""));
}

}  // namespace
}  // namespace tessera
