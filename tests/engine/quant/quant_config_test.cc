// quantization_config parsing: the fixture configs, each method's fields, refusals of what tessera
// cannot reproduce, and the --quantization agreement rule.
#include "engine/quant/quant_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "engine/model_config.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

QuantConfig Parse(const std::string& json) {
  absl::StatusOr<QuantConfig> c = ParseQuantizationConfig(json, "config.json");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : QuantConfig{};
}

std::string Error(const std::string& json) {
  absl::StatusOr<QuantConfig> c = ParseQuantizationConfig(json, "config.json");
  EXPECT_FALSE(c.ok()) << json;
  return c.ok() ? "" : std::string(c.status().message());
}

const char kFp8[] = R"({"quant_method": "compressed-tensors", "format": "float-quantized",
  "config_groups": {"group_0": {"targets": ["Linear"], "input_activations": null,
    "weights": {"num_bits": 8, "type": "float", "strategy": "channel", "symmetric": true,
                "dynamic": false, "group_size": null, "actorder": null}}},
  "ignore": ["lm_head", "re:.*mlp\\.down_proj"], "kv_cache_scheme": null, "sparsity_config": {},
  "quantization_status": "compressed"})";

TEST(QuantConfigTest, Awq) {
  const QuantConfig c = Parse(
      R"({"quant_method": "awq", "zero_point": true, "group_size": 64, "bits": 4,
          "version": "gemm", "modules_to_not_convert": ["visual"]})");
  EXPECT_EQ(c.method, QuantMethod::kAwq);
  EXPECT_STREQ(c.MethodName(), "awq");
  ASSERT_EQ(c.schemes.size(), 1u);
  EXPECT_EQ(c.schemes[0].bits, 4);
  EXPECT_EQ(c.schemes[0].group_size, 64);
  EXPECT_FALSE(c.schemes[0].symmetric);
  EXPECT_NE(c.SchemeFor("model.layers.0.self_attn.q_proj"), nullptr);
  EXPECT_EQ(c.SchemeFor("model.visual.blocks.0.proj"), nullptr);  // substring rule
}

TEST(QuantConfigTest, Gptq) {
  const QuantConfig c = Parse(
      R"({"quant_method": "gptq", "bits": 8, "group_size": -1, "desc_act": true, "sym": true,
          "checkpoint_format": "gptq_v2"})");
  EXPECT_EQ(c.method, QuantMethod::kGptq);
  EXPECT_TRUE(c.gptq_v2);
  EXPECT_EQ(c.schemes[0].bits, 8);
  EXPECT_EQ(c.schemes[0].group_size, -1);
  EXPECT_TRUE(c.schemes[0].act_order);
  EXPECT_FALSE(Parse(R"({"quant_method": "gptq", "bits": 4})").gptq_v2);
}

TEST(QuantConfigTest, CompressedTensorsFp8AndIgnore) {
  const QuantConfig c = Parse(kFp8);
  EXPECT_EQ(c.method, QuantMethod::kCompressedTensors);
  const QuantScheme* s = c.SchemeFor("model.layers.1.self_attn.o_proj");
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->is_float);
  EXPECT_FALSE(s->tensor_scale);
  EXPECT_EQ(c.SchemeFor("lm_head"), nullptr);
  EXPECT_EQ(c.SchemeFor("model.layers.1.mlp.down_proj"), nullptr);  // "re:" pattern
  EXPECT_NE(c.SchemeFor("model.layers.1.mlp.up_proj"), nullptr);
}

TEST(QuantConfigTest, CompressedTensorsPackQuantized) {
  const QuantConfig c = Parse(R"({"quant_method": "compressed-tensors", "format": "pack-quantized",
    "config_groups": {"g": {"targets": ["re:.*self_attn.*"], "weights": {"num_bits": 4,
      "type": "int", "strategy": "group", "group_size": 32, "symmetric": false,
      "actorder": "group"}}}})");
  const QuantScheme* s = c.SchemeFor("model.layers.0.self_attn.k_proj");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->group_size, 32);
  EXPECT_FALSE(s->symmetric);
  EXPECT_TRUE(s->act_order);
  EXPECT_EQ(c.SchemeFor("model.layers.0.mlp.up_proj"), nullptr);  // not targeted
}

TEST(QuantConfigTest, RefusesWhatCannotBeReproduced) {
  EXPECT_THAT(Error(R"({"quant_method": "compressed-tensors", "format": "float-quantized",
    "config_groups": {"group_0": {"targets": ["Linear"], "input_activations": {"num_bits": 8,
      "type": "float", "strategy": "token", "dynamic": true},
      "weights": {"num_bits": 8, "type": "float", "strategy": "channel"}}}})"),
              HasSubstr("W8A8"));
  EXPECT_THAT(Error(R"({"quant_method": "fp8", "activation_scheme": "dynamic"})"),
              HasSubstr("W8A8"));
  EXPECT_THAT(Error(R"({"quant_method": "gptq", "bits": 3, "group_size": 128})"),
              HasSubstr("3 bits"));
  EXPECT_THAT(Error(R"({"quant_method": "awq", "bits": 4, "version": "gemv"})"), HasSubstr("gemv"));
  EXPECT_THAT(Error(R"({"quant_method": "gptq", "bits": 4, "checkpoint_format": "marlin"})"),
              HasSubstr("checkpoint_format"));
  EXPECT_THAT(Error(R"({"quant_method": "gptq", "bits": 4, "group_size": 0})"),
              HasSubstr("group_size"));
  EXPECT_THAT(Error(R"({"quant_method": "bitsandbytes"})"), HasSubstr("bitsandbytes"));
  EXPECT_THAT(Error(R"({"bits": 4})"), HasSubstr("quant_method"));
  EXPECT_THAT(Error(R"({"quant_method": "compressed-tensors", "config_groups": {}})"),
              HasSubstr("empty"));
  EXPECT_THAT(Error(R"({"quant_method": "compressed-tensors", "format": "pack-quantized",
    "kv_cache_scheme": {"num_bits": 8}, "config_groups": {"g": {"targets": ["Linear"],
    "weights": {"num_bits": 4, "type": "int", "strategy": "channel"}}}})"),
              HasSubstr("kv_cache_scheme"));
  EXPECT_THAT(Error(R"({"quant_method": "compressed-tensors", "format": "pack-quantized",
    "ignore": ["re:(("], "config_groups": {"g": {"targets": ["Linear"],
    "weights": {"num_bits": 4, "type": "int", "strategy": "channel"}}}})"),
              HasSubstr("not a valid regex"));
  EXPECT_THAT(Error(R"({"quant_method": "compressed-tensors", "format": "int-quantized",
    "config_groups": {"g": {"targets": ["Linear"],
    "weights": {"num_bits": 8, "type": "int", "strategy": "channel"}}}})"),
              HasSubstr("pack-quantized"));
  EXPECT_THAT(Error(R"({"quant_method": "awq", "bits": "4"})"), HasSubstr("bits"));
  EXPECT_THAT(Error("[1]"), HasSubstr("config.json"));
}

TEST(QuantConfigTest, ModelConfigCarriesIt) {
  const std::string base = R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
    "vocab_size": 100, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1,
    "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 64)";
  absl::StatusOr<ModelConfig> plain = ParseModelConfig(base + "}", "config.json");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_FALSE(plain->quantization.quantized());
  absl::StatusOr<ModelConfig> awq = ParseModelConfig(
      base + R"(, "quantization_config": {"quant_method": "awq", "bits": 4, "group_size": 64}})",
      "config.json");
  ASSERT_TRUE(awq.ok()) << awq.status();
  EXPECT_EQ(awq->quantization.method, QuantMethod::kAwq);
  absl::StatusOr<ModelConfig> bad = ParseModelConfig(
      base + R"(, "quantization_config": {"quant_method": "awq", "bits": 2}})", "config.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("quantization_config.bits"));
}

TEST(QuantConfigTest, FlagMustAgree) {
  const QuantConfig none;
  const QuantConfig fp8 = Parse(kFp8);
  EXPECT_TRUE(CheckQuantizationFlag("", none).ok());
  EXPECT_TRUE(CheckQuantizationFlag("", fp8).ok());
  EXPECT_TRUE(CheckQuantizationFlag("none", none).ok());
  EXPECT_TRUE(CheckQuantizationFlag("compressed-tensors", fp8).ok());
  absl::Status wrong = CheckQuantizationFlag("awq", fp8);
  EXPECT_EQ(wrong.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(wrong.message(), HasSubstr("compressed-tensors"));
  EXPECT_FALSE(CheckQuantizationFlag("none", fp8).ok());
  EXPECT_FALSE(CheckQuantizationFlag("gptq", none).ok());
  for (const char* on_load : {"int8", "int4", "fp8", "nf4", "bitsandbytes"}) {
    EXPECT_TRUE(CheckQuantizationFlag(on_load, none).ok()) << on_load;
    // A pre-quantized checkpoint is not quantized again.
    EXPECT_THAT(CheckQuantizationFlag(on_load, fp8).message(), HasSubstr("disagrees"));
  }
  EXPECT_THAT(CheckQuantizationFlag("int3", none).message(), HasSubstr("not a known method"));
}

}  // namespace
}  // namespace tessera
