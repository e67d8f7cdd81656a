// On-load quantization and --dtype through the engine loader: exactly the decoder Linears are
// quantized (embeddings, lm_head and norms keep the checkpoint's values), the tally says how the
// weights are stored, bad flag combinations are refused with clear errors, and --dtype rounds the
// unquantized weights (refusing values float16 cannot hold).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "authoring/checkpoint_writer.h"
#include "engine/cpu/cpu_engine.h"
#include "engine/dtype.h"
#include "engine/engine_loader.h"
#include "engine/quant/on_load_quantizer.h"
#include "tests/engine/test_files.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

const std::string kModels = std::string(TESSERA_FIXTURES_DIR) + "/models/";

std::string Model(const std::string& name) { return testing::FixtureModelDir(kModels + name); }

class OnLoadEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kModels + "quant-llama")) GTEST_SKIP() << "no fixtures";
  }
  static EngineLoadOptions Options(const std::string& quantization,
                                   const std::string& dtype = "auto",
                                   const std::string& backend = "cpu") {
    EngineLoadOptions o;
    o.backend = backend;
    o.quantization = quantization;
    o.dtype = dtype;
    o.num_kv_blocks = 16;
    o.threads = 1;
    return o;
  }
  static const CpuWeights& Weights(const LoadedEngine& e) {
    return dynamic_cast<const CpuEngine&>(*e.engine).weights();
  }
};

TEST_F(OnLoadEngineTest, QuantizesExactlyTheDecoderLinears) {
  absl::StatusOr<LoadedEngine> plain = LoadEngine(Model("quant-llama"), Options(""));
  ASSERT_TRUE(plain.ok()) << plain.status();
  const CpuWeights& p = Weights(*plain);
  for (const char* method : {"int8", "int4", "fp8", "nf4"}) {
    SCOPED_TRACE(method);
    absl::StatusOr<LoadedEngine> q = LoadEngine(Model("quant-llama"), Options(method));
    ASSERT_TRUE(q.ok()) << q.status();
    const CpuWeights& w = Weights(*q);
    EXPECT_EQ(w.embedding, p.embedding);
    EXPECT_EQ(w.lm_head.weight, p.lm_head.weight);
    EXPECT_EQ(w.final_norm, p.final_norm);
    const OnLoadQuantization how{*OnLoadMethodNamed(method), false};
    for (size_t l = 0; l < w.layers.size(); ++l) {
      EXPECT_EQ(w.layers[l].input_norm, p.layers[l].input_norm);
      const CpuLayerWeights &ql = w.layers[l], &pl = p.layers[l];
      for (const auto& [qm, pm] : {std::pair{&ql.q, &pl.q},
                                   {&ql.k, &pl.k},
                                   {&ql.v, &pl.v},
                                   {&ql.o, &pl.o},
                                   {&ql.gate, &pl.gate},
                                   {&ql.up, &pl.up},
                                   {&ql.down, &pl.down}}) {
        // The quantizer is tested on its own (on_load_quantizer_test); here: it was applied to
        // this Linear's checkpoint values, once.
        absl::StatusOr<QuantizedLinear> expected =
            QuantizeOnLoad(how, "m", pm->weight, pm->rows, pm->cols);
        ASSERT_TRUE(expected.ok());
        EXPECT_EQ(qm->weight, *expected->Dequantize());
        EXPECT_NE(qm->weight, pm->weight);
      }
    }
    const std::string stored = w.stored.ToString();
    EXPECT_THAT(stored, HasSubstr("on-load"));
    EXPECT_THAT(stored, HasSubstr("bf16"));
    EXPECT_THAT(q->memory_plan, HasSubstr(stored));
  }
}

TEST_F(OnLoadEngineTest, Int8StaysCloseToTheUnquantizedModel) {
  CpuEngineOptions o;
  o.num_kv_blocks = 4;
  o.num_threads = 1;
  absl::StatusOr<std::unique_ptr<CpuEngine>> plain = CpuEngine::Load(Model("quant-llama"), o);
  o.weights.quantization.method = OnLoadMethod::kInt8;
  absl::StatusOr<std::unique_ptr<CpuEngine>> int8 = CpuEngine::Load(Model("quant-llama"), o);
  ASSERT_TRUE(plain.ok() && int8.ok());
  StepPlan plan;
  StepSequence seq;
  seq.return_last_logits = true;
  plan.AddSequence({1, 450, 4996, 17354, 1701, 432}, {0}, kDefaultBlockSize, seq);
  absl::StatusOr<StepResult> a = (*plain)->Step(plan);
  absl::StatusOr<StepResult> b = (*int8)->Step(plan);
  ASSERT_TRUE(a.ok() && b.ok());
  const std::vector<float>& x = a->seqs[0].last_logits;
  const std::vector<float>& y = b->seqs[0].last_logits;
  ASSERT_EQ(x.size(), y.size());
  double max_diff = 0, max_abs = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    max_diff = std::max(max_diff, std::fabs(double{x[i]} - y[i]));
    max_abs = std::max(max_abs, std::fabs(double{x[i]}));
  }
  EXPECT_GT(max_diff, 0.0);             // it did quantize
  EXPECT_LT(max_diff, 0.02 * max_abs);  // int8 per channel is close
}

TEST_F(OnLoadEngineTest, RefusesBadCombinationsClearly) {
  absl::StatusOr<LoadedEngine> e;
  EngineLoadOptions dq = Options("int8");
  dq.nf4_double_quant = true;
  e = LoadEngine(Model("quant-llama"), dq);
  EXPECT_THAT(e.status().message(), HasSubstr("--nf4-double-quant applies to --quantization nf4"));
  e = LoadEngine(Model("quant-llama"), Options("", "fp64"));
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(e.status().message(), HasSubstr("--dtype \"fp64\" is not one of"));
  e = LoadEngine(Model("quant-llama"), Options("nf4", "auto", "cuda"));
  EXPECT_EQ(e.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(e.status().message(), HasSubstr("on-load quantization on CUDA"));
  e = LoadEngine(Model("quant-llama"), Options("", "float16", "cuda"));
  EXPECT_EQ(e.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(e.status().message(), HasSubstr("computes in bfloat16"));
  // tiny-llama's hidden size, 64, is not a multiple of int4's group of 128.
  e = LoadEngine(Model("tiny-llama"), Options("int4"));
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(e.status().message(), HasSubstr("self_attn.q_proj has 64 inputs"));
  EXPECT_TRUE(LoadEngine(Model("tiny-llama"), Options("int8")).ok());
  dq = Options("bitsandbytes");
  dq.nf4_double_quant = true;
  e = LoadEngine(Model("tiny-llama"), dq);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_THAT(Weights(*e).stored.ToString(), HasSubstr("nf4 b64 double-quant on-load"));
}

TEST_F(OnLoadEngineTest, DTypeRoundsUnquantizedWeights) {
  // tiny-qwen2 is stored as f16: bfloat16 drops 3 fraction bits.
  absl::StatusOr<LoadedEngine> auto_ = LoadEngine(Model("tiny-qwen2"), Options(""));
  absl::StatusOr<LoadedEngine> bf16 = LoadEngine(Model("tiny-qwen2"), Options("", "bfloat16"));
  ASSERT_TRUE(auto_.ok() && bf16.ok());
  const std::vector<float>& a = Weights(*auto_).embedding;
  const std::vector<float>& b = Weights(*bf16).embedding;
  ASSERT_EQ(a.size(), b.size());
  size_t changed = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(b[i], Bf16ToFloat(FloatToBf16(a[i])));
    changed += a[i] != b[i];
  }
  EXPECT_GT(changed, a.size() / 2);
  EXPECT_THAT(Weights(*auto_).stored.ToString(), HasSubstr("f16"));
  EXPECT_THAT(Weights(*bf16).stored.ToString(), HasSubstr("bf16"));
  // float16 on a bf16 model: representable values stay, and the tally says f16.
  absl::StatusOr<LoadedEngine> f16 = LoadEngine(Model("quant-llama"), Options("", "half"));
  ASSERT_TRUE(f16.ok()) << f16.status();
  EXPECT_THAT(Weights(*f16).stored.ToString(), HasSubstr("f16"));
}

TEST(OnLoadDTypeTest, Float16RefusesValuesBeyondItsRange) {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.model_type = "llama";
  c.bos_token_id = 1;
  c.vocab_size = 32;
  c.hidden_size = 16;
  c.intermediate_size = 32;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.head_dim = 8;
  c.max_position_embeddings = 32;
  c.layer_sliding_window.assign(1, 0);
  const std::string dir = ::testing::TempDir() + "/huge-weights";
  RandomCheckpointOptions w;
  w.scale = 1e6f;  // beyond float16's 65504
  ASSERT_TRUE(WriteRandomCheckpoint(dir, c, w).ok());
  EngineLoadOptions o;
  o.num_kv_blocks = 4;
  o.dtype = "float16";
  absl::StatusOr<LoadedEngine> e = LoadEngine(dir, o);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(e.status().message(), HasSubstr("beyond float16's range; use --dtype bfloat16"));
  o.dtype = "bfloat16";
  EXPECT_TRUE(LoadEngine(dir, o).ok());
}

}  // namespace
}  // namespace tessera
