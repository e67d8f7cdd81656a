// Pre-quantized checkpoints through the engine loader: --quantization must agree with the
// checkpoint, CUDA refuses them, and a LoRA adapter on the quantized base computes exactly what it
// computes on the dequantized weights loaded as a plain fp32 model.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "authoring/safetensors_writer.h"
#include "engine/cpu/cpu_engine.h"
#include "engine/engine_loader.h"
#include "engine/lora_weights.h"
#include "engine/model_weights.h"
#include "tests/engine/random_lora.h"
#include "tests/engine/test_files.h"

namespace tessera {
namespace {

using ::tessera::testing::RandomLora;

using ::testing::HasSubstr;

const std::string kModels = std::string(TESSERA_FIXTURES_DIR) + "/models/";

// A fixture model's folder, usable even from a copy of the fixtures that lost its links.
std::string Model(const std::string& name) { return testing::FixtureModelDir(kModels + name); }

class QuantEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kModels + "quant-llama-awq")) GTEST_SKIP() << "no fixtures";
  }
  static EngineLoadOptions Options(const std::string& quantization,
                                   const std::string& backend = "cpu") {
    EngineLoadOptions o;
    o.backend = backend;
    o.quantization = quantization;
    o.num_kv_blocks = 16;
    o.threads = 1;
    return o;
  }
};

TEST_F(QuantEngineTest, FlagMustAgreeWithTheCheckpoint) {
  for (const char* flag : {"", "awq"}) {
    absl::StatusOr<LoadedEngine> e = LoadEngine(Model("quant-llama-awq"), Options(flag));
    EXPECT_TRUE(e.ok()) << flag << ": " << e.status();
  }
  absl::StatusOr<LoadedEngine> wrong = LoadEngine(Model("quant-llama-awq"), Options("gptq"));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(wrong.status().message(), HasSubstr("quant_method \"awq\""));
  EXPECT_TRUE(LoadEngine(Model("quant-llama-fp8"), Options("compressed-tensors")).ok());
  absl::StatusOr<LoadedEngine> twice = LoadEngine(Model("quant-llama-awq"), Options("int4"));
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(LoadEngine(Model("quant-llama"), Options("awq")).ok());
}

TEST_F(QuantEngineTest, CudaRefusesQuantizedCheckpoints) {
  for (const char* model : {"quant-llama-awq", "quant-llama-gptq", "quant-llama-fp8"}) {
    absl::StatusOr<LoadedEngine> e = LoadEngine(Model(model), Options("", "cuda"));
    ASSERT_FALSE(e.ok()) << model;
    EXPECT_EQ(e.status().code(), absl::StatusCode::kUnimplemented);
    EXPECT_THAT(e.status().message(),
                HasSubstr("quantized weights on CUDA are not supported yet (issue 20)"));
  }
}

std::vector<float> LastLogits(CpuEngine& e, int32_t slot) {
  StepPlan plan;
  StepSequence s;
  s.return_last_logits = true;
  s.adapter_slot = slot;
  plan.AddSequence({1, 450, 4996, 17354, 1701, 432, 17204, 975}, {0}, kDefaultBlockSize, s);
  absl::StatusOr<StepResult> r = e.Step(plan);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? r->seqs[0].last_logits : std::vector<float>{};
}

TEST_F(QuantEngineTest, LoraOnQuantizedBaseEqualsLoraOnDequantizedWeights) {
  CpuEngineOptions o;
  o.num_kv_blocks = 4;
  o.num_threads = 1;
  for (const char* model : {"quant-llama-awq", "quant-llama-gptq", "quant-llama-fp8"}) {
    SCOPED_TRACE(model);
    absl::StatusOr<std::unique_ptr<CpuEngine>> quantized = CpuEngine::Load(Model(model), o);
    ASSERT_TRUE(quantized.ok()) << quantized.status();
    // The same fp32 weights as a plain, unquantized model.
    ModelConfig plain_config = (*quantized)->config();
    plain_config.quantization = QuantConfig{};
    absl::StatusOr<std::unique_ptr<CpuEngine>> plain =
        CpuEngine::Create(plain_config, (*quantized)->weights(), o);
    ASSERT_TRUE(plain.ok()) << plain.status();

    const std::shared_ptr<LoraWeights> lora = RandomLora(plain_config);
    ASSERT_TRUE((*quantized)->SetAdapter(0, lora, {}).ok());
    ASSERT_TRUE((*plain)->SetAdapter(0, lora, {}).ok());
    const std::vector<float> q = LastLogits(**quantized, 0);
    const std::vector<float> p = LastLogits(**plain, 0);
    ASSERT_FALSE(q.empty());
    EXPECT_EQ(q, p);
    EXPECT_NE(q, LastLogits(**quantized, -1));  // the adapter does change the output
  }
}

// A synthetic model whose config quantizes only layer 0's q_proj (FP8, compressed-tensors): every
// module the config ignores loads from its float `.weight`, and q_proj is fp8 * scale.
TEST(QuantWeightsTest, IgnoredModulesStayInTheirDtype) {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.vocab_size = 64;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.max_position_embeddings = 64;
  c.layer_sliding_window.assign(2, 0);
  const CpuWeights base = CpuWeights::Random(c, 3);
  const std::string q0 = "model.layers.0.self_attn.q_proj";
  std::vector<TensorToWrite> tensors;
  for (const WeightSpec& spec : ExpectedWeights(c)) {
    if (spec.name == q0 + ".weight") continue;
    // Every other tensor: the random model's float values.
    const CpuLayerWeights* l = spec.layer >= 0 ? &base.layers[spec.layer] : nullptr;
    const std::vector<float>* v = nullptr;
    switch (spec.kind) {
      case WeightKind::kEmbedding:
        v = &base.embedding;
        break;
      case WeightKind::kLmHead:
        v = &base.lm_head.weight;
        break;
      case WeightKind::kFinalNorm:
        v = &base.final_norm;
        break;
      case WeightKind::kInputNorm:
        v = &l->input_norm;
        break;
      case WeightKind::kPostAttentionNorm:
        v = &l->post_attention_norm;
        break;
      case WeightKind::kQ:
        v = &l->q.weight;
        break;
      case WeightKind::kK:
        v = &l->k.weight;
        break;
      case WeightKind::kV:
        v = &l->v.weight;
        break;
      case WeightKind::kO:
        v = &l->o.weight;
        break;
      case WeightKind::kGate:
        v = &l->gate.weight;
        break;
      case WeightKind::kUp:
        v = &l->up.weight;
        break;
      case WeightKind::kDown:
        v = &l->down.weight;
        break;
      default:
        FAIL() << spec.name;
    }
    tensors.push_back({spec.name, DType::kF32, spec.shape,
                       std::string(reinterpret_cast<const char*>(v->data()), v->size() * 4)});
  }
  const int64_t n = c.q_size(), k = c.hidden_size;
  std::string fp8(static_cast<size_t>(n * k), '\0');
  for (int64_t i = 0; i < n * k; ++i) fp8[i] = static_cast<char>((i * 37) % 0x7e);
  std::vector<float> scales(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) scales[i] = 0.25f * static_cast<float>(1 + i % 4);
  tensors.push_back({q0 + ".weight", DType::kF8E4M3, {n, k}, fp8});
  tensors.push_back({q0 + ".weight_scale",
                     DType::kF32,
                     {n, 1},
                     std::string(reinterpret_cast<const char*>(scales.data()), n * 4)});
  const std::string dir = testing::TestDir("quant_weights", "ignored");
  ASSERT_TRUE(WriteSafetensors(dir + "/model.safetensors", tensors).ok());
  absl::StatusOr<std::unique_ptr<Checkpoint>> ckpt = Checkpoint::Open(dir);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();

  absl::StatusOr<QuantConfig> qc = ParseQuantizationConfig(
      R"({"quant_method": "compressed-tensors", "format": "float-quantized",
          "config_groups": {"g": {"targets": ["Linear"], "input_activations": null,
            "weights": {"num_bits": 8, "type": "float", "strategy": "channel"}}},
          "ignore": ["lm_head", "re:model\\.layers\\.1\\.", "re:.*mlp", "re:.*[kvo]_proj"]})",
      "config.json");
  ASSERT_TRUE(qc.ok()) << qc.status();
  c.quantization = *qc;
  absl::StatusOr<CpuWeights> w = CpuWeights::FromCheckpoint(c, **ckpt);
  ASSERT_TRUE(w.ok()) << w.status();
  for (int64_t i = 0; i < n * k; ++i) {
    ASSERT_EQ(w->layers[0].q.weight[i],
              Fp8E4M3ToFloat(static_cast<uint8_t>(fp8[i])) * scales[i / k])
        << i;
  }
  EXPECT_EQ(w->layers[1].q.weight, base.layers[1].q.weight);
  EXPECT_EQ(w->layers[0].k.weight, base.layers[0].k.weight);
  EXPECT_EQ(w->layers[0].down.weight, base.layers[0].down.weight);
  EXPECT_EQ(w->embedding, base.embedding);

  // Without the ignore list the same checkpoint is refused, naming a tensor the config wants.
  c.quantization.ignore.clear();
  absl::StatusOr<CpuWeights> strict = CpuWeights::FromCheckpoint(c, **ckpt);
  ASSERT_FALSE(strict.ok());
  EXPECT_THAT(strict.status().message(), HasSubstr("has dtype F32, expected F8_E4M3"));
}

}  // namespace
}  // namespace tessera
