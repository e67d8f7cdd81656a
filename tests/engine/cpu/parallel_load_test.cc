// The CPU engine's weights load in parallel (--num-weight-load-threads): any thread count gives
// the same bits, the same stored-weights tally and the same first error as a one-thread load.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "authoring/checkpoint_writer.h"
#include "engine/checkpoint.h"
#include "engine/cpu/cpu_weights.h"
#include "engine/model_config.h"
#include "tests/engine/test_files.h"

namespace tessera {
namespace {

const std::string kFixtures = TESSERA_FIXTURES_DIR;

void ExpectSameBits(const std::vector<float>& a, const std::vector<float>& b,
                    const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  if (a.empty()) return;  // memcmp may not be given an empty vector's null data (UBSan)
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << what;
}

void ExpectSameLinear(const CpuLinear& a, const CpuLinear& b, const std::string& what) {
  ExpectSameBits(a.weight, b.weight, what + ".weight");
  ExpectSameBits(a.bias, b.bias, what + ".bias");
  EXPECT_EQ(a.rows, b.rows) << what;
  EXPECT_EQ(a.cols, b.cols) << what;
}

void ExpectSameWeights(const CpuWeights& a, const CpuWeights& b) {
  ExpectSameBits(a.embedding, b.embedding, "embedding");
  ExpectSameBits(a.final_norm, b.final_norm, "final_norm");
  ExpectSameLinear(a.lm_head, b.lm_head, "lm_head");
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t l = 0; l < a.layers.size(); ++l) {
    const std::string p = "layer " + std::to_string(l) + " ";
    const CpuLayerWeights& x = a.layers[l];
    const CpuLayerWeights& y = b.layers[l];
    ExpectSameBits(x.input_norm, y.input_norm, p + "input_norm");
    ExpectSameBits(x.post_attention_norm, y.post_attention_norm, p + "post_attention_norm");
    ExpectSameLinear(x.q, y.q, p + "q");
    ExpectSameLinear(x.k, y.k, p + "k");
    ExpectSameLinear(x.v, y.v, p + "v");
    ExpectSameLinear(x.o, y.o, p + "o");
    ExpectSameLinear(x.gate, y.gate, p + "gate");
    ExpectSameLinear(x.up, y.up, p + "up");
    ExpectSameLinear(x.down, y.down, p + "down");
  }
  EXPECT_EQ(a.stored.entries(), b.stored.entries());
}

absl::StatusOr<CpuWeights> LoadWith(const std::string& dir, WeightLoadOptions options,
                                    int32_t threads) {
  absl::StatusOr<ModelConfig> config = LoadModelConfig(dir);
  if (!config.ok()) return config.status();
  absl::StatusOr<std::unique_ptr<Checkpoint>> checkpoint = Checkpoint::Open(dir);
  if (!checkpoint.ok()) return checkpoint.status();
  options.num_threads = threads;
  return CpuWeights::FromCheckpoint(*config, **checkpoint, options);
}

// Loads `model` (a fixture folder) with 1 and with 5 threads and compares the bits.
void ExpectParallelLoadIdentical(const std::string& model, const WeightLoadOptions& options) {
  const std::string dir = kFixtures + "/models/" + model;
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "fixture " << dir << " absent";
  const std::string usable = testing::FixtureModelDir(dir);
  absl::StatusOr<CpuWeights> one = LoadWith(usable, options, 1);
  ASSERT_TRUE(one.ok()) << one.status();
  absl::StatusOr<CpuWeights> many = LoadWith(usable, options, 5);
  ASSERT_TRUE(many.ok()) << many.status();
  EXPECT_GT(one->NumParameters(), 0u);
  ExpectSameWeights(*one, *many);
}

// tiny-llama's embedding (32000 x 64) spans two conversion chunks; three shards.
TEST(ParallelLoadTest, TinyLlamaBf16ShardsAreBitIdentical) {
  ExpectParallelLoadIdentical("tiny-llama", {});
}

TEST(ParallelLoadTest, TinyQwen2F16BiasesAndTiedEmbeddingAreBitIdentical) {
  ExpectParallelLoadIdentical("tiny-qwen2", {});
}

TEST(ParallelLoadTest, DTypeRoundingIsBitIdentical) {
  WeightLoadOptions o;
  o.dtype = WeightDType::kFloat16;
  ExpectParallelLoadIdentical("tiny-llama", o);
}

TEST(ParallelLoadTest, OnLoadQuantizationIsBitIdentical) {
  WeightLoadOptions o;
  o.quantization.method = OnLoadMethod::kInt4;
  ExpectParallelLoadIdentical("quant-llama", o);
}

TEST(ParallelLoadTest, PreQuantizedCheckpointsAreBitIdentical) {
  for (const char* model : {"quant-llama-awq", "quant-llama-gptq", "quant-llama-fp8"}) {
    SCOPED_TRACE(model);
    ExpectParallelLoadIdentical(model, {});
  }
}

// Every tensor overflows float16: whichever thread meets an overflow first, the error is the one
// a one-by-one load meets first (the embedding's element 0).
TEST(ParallelLoadTest, FirstErrorIsTheOneTensorOrderGives) {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.model_type = "llama";
  c.vocab_size = 4096;
  c.hidden_size = 512;  // 2M embedding elements: two chunks
  c.intermediate_size = 64;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.max_position_embeddings = 64;
  c.layer_sliding_window = {0, 0};
  const std::string dir = testing::TestDir("parallel_load", "overflow");
  RandomCheckpointOptions w;
  w.dtype = DType::kF32;
  w.num_shards = 2;
  w.scale = 1e6f;  // beyond float16's 65504
  ASSERT_TRUE(WriteRandomCheckpoint(dir, c, w).ok());
  WeightLoadOptions o;
  o.dtype = WeightDType::kFloat16;
  absl::StatusOr<CpuWeights> one = LoadWith(dir, o, 1);
  absl::StatusOr<CpuWeights> many = LoadWith(dir, o, 6);
  ASSERT_FALSE(one.ok());
  ASSERT_FALSE(many.ok());
  EXPECT_EQ(one.status(), many.status());
  EXPECT_NE(many.status().message().find("--dtype float16: tensor \"model.embed_tokens.weight\""),
            std::string::npos)
      << many.status();
}

}  // namespace
}  // namespace tessera
