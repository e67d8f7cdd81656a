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

#include "engine/cpu/cpu_engine.h"
#include "engine/engine_loader.h"
#include "engine/lora_weights.h"
#include "tests/engine/test_files.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

const std::string kModels = std::string(TESSERA_FIXTURES_DIR) + "/models/";

class QuantEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kModels + "quant-llama-awq")) GTEST_SKIP() << "no fixtures";
    for (const char* m : {"quant-llama-awq", "quant-llama-gptq", "quant-llama-fp8"}) {
      if (const std::string broken = testing::BrokenFixtureLinks(kModels + m); !broken.empty()) {
        GTEST_SKIP() << broken;
      }
    }
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
    absl::StatusOr<LoadedEngine> e = LoadEngine(kModels + "quant-llama-awq", Options(flag));
    EXPECT_TRUE(e.ok()) << flag << ": " << e.status();
  }
  absl::StatusOr<LoadedEngine> wrong = LoadEngine(kModels + "quant-llama-awq", Options("gptq"));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(wrong.status().message(), HasSubstr("quant_method \"awq\""));
  EXPECT_TRUE(LoadEngine(kModels + "quant-llama-fp8", Options("compressed-tensors")).ok());
  absl::StatusOr<LoadedEngine> on_load = LoadEngine(kModels + "quant-llama", Options("int4"));
  ASSERT_FALSE(on_load.ok());
  EXPECT_EQ(on_load.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(on_load.status().message(), HasSubstr("on-load quantization"));
  EXPECT_FALSE(LoadEngine(kModels + "quant-llama", Options("awq")).ok());
}

TEST_F(QuantEngineTest, CudaRefusesQuantizedCheckpoints) {
  for (const char* model : {"quant-llama-awq", "quant-llama-gptq", "quant-llama-fp8"}) {
    absl::StatusOr<LoadedEngine> e = LoadEngine(kModels + model, Options("", "cuda"));
    ASSERT_FALSE(e.ok()) << model;
    EXPECT_EQ(e.status().code(), absl::StatusCode::kUnimplemented);
    EXPECT_THAT(e.status().message(),
                HasSubstr("quantized weights on CUDA are not supported yet (issue 20)"));
  }
}

// Random adapter pairs on q and down of every layer.
std::shared_ptr<LoraWeights> RandomLora(const ModelConfig& c) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-0.2f, 0.2f);
  auto w = std::make_shared<LoraWeights>();
  w->layers.resize(c.num_hidden_layers);
  for (auto& layer : w->layers) {
    for (LoraModule m : {LoraModule::kQ, LoraModule::kDown}) {
      LoraPair& p = layer[static_cast<int>(m)];
      p.rank = 4;
      p.scale = 2.0f;
      p.in_features = LoraModuleInFeatures(c, m);
      p.out_features = LoraModuleOutFeatures(c, m);
      for (int64_t i = 0; i < p.rank * p.in_features; ++i) p.a.push_back(u(rng));
      for (int64_t i = 0; i < p.out_features * p.rank; ++i) p.b.push_back(u(rng));
    }
  }
  return w;
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
    absl::StatusOr<std::unique_ptr<CpuEngine>> quantized = CpuEngine::Load(kModels + model, o);
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

}  // namespace
}  // namespace tessera
