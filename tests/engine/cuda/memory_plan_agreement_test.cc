// The memory plan that `tessera plan` computes without CUDA (engine/memory_plan.h) against the
// CUDA engine's own sizes: the weights arena and the LoRA tables. No GPU needed (sizes only); the
// engine plans its workspace with CudaMemoryPlanInputs itself and checks its carving against it.
#include <gtest/gtest.h>

#include <vector>

#include "engine/cuda/cuda_weights.h"
#include "engine/cuda/device_lora_pool.h"
#include "engine/memory_plan.h"
#include "engine/model_config.h"

namespace tessera {
namespace {

ModelConfig Shape(int64_t vocab, int64_t hidden, int64_t inter, int64_t layers, int64_t heads,
                  int64_t kv_heads, int64_t head_dim, bool tied) {
  ModelConfig c;
  c.vocab_size = vocab;
  c.hidden_size = hidden;
  c.intermediate_size = inter;
  c.num_hidden_layers = layers;
  c.num_attention_heads = heads;
  c.num_key_value_heads = kv_heads;
  c.head_dim = head_dim;
  c.tie_word_embeddings = tied;
  c.max_position_embeddings = 4096;
  return c;
}

std::vector<ModelConfig> Shapes() {
  std::vector<ModelConfig> shapes = {
      Shape(128256, 4096, 14336, 32, 32, 8, 128, false),  // Llama-3-8B
      Shape(128256, 2048, 8192, 16, 32, 8, 64, true),     // Llama-3.2-1B
      Shape(32000, 64, 192, 2, 4, 2, 64, false),          // tiny-llama
      Shape(1001, 72, 200, 3, 6, 2, 12, false),           // nothing a multiple of 64
  };
  ModelConfig biased = Shape(1001, 72, 200, 3, 6, 2, 12, true);
  biased.qkv_bias = biased.o_bias = biased.mlp_bias = true;
  shapes.push_back(biased);
  return shapes;
}

TEST(MemoryPlanAgreementTest, WeightBytesAreTheEnginesArena) {
  for (const ModelConfig& c : Shapes()) {
    EXPECT_EQ(CudaBf16WeightBytes(c), CudaWeights::BytesFor(c)) << c.hidden_size;
  }
}

TEST(MemoryPlanAgreementTest, LoraTablesAreTheEnginesPool) {
  for (const ModelConfig& c : Shapes()) {
    for (int32_t slots : {1, 9, 129}) {
      EXPECT_EQ(CudaLoraTableBytes(c, slots, 64, 2048),
                DeviceLoraPool::DeviceBytes(c, slots, 64, 2048));
    }
  }
}

}  // namespace
}  // namespace tessera
