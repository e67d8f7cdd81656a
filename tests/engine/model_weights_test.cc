#include "engine/model_weights.h"

#include <gtest/gtest.h>

#include <set>

namespace tessera {
namespace {

ModelConfig SmallConfig() {
  ModelConfig c;
  c.vocab_size = 10;
  c.hidden_size = 8;
  c.intermediate_size = 12;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 4;
  return c;
}

std::set<std::string> Names(const std::vector<WeightSpec>& specs) {
  std::set<std::string> n;
  for (const WeightSpec& s : specs) n.insert(s.name);
  return n;
}

TEST(ExpectedWeightsTest, LlamaUntiedWithoutBiases) {
  const std::vector<WeightSpec> w = ExpectedWeights(SmallConfig());
  EXPECT_EQ(w.size(), 3u + 2 * 9);
  const std::set<std::string> n = Names(w);
  EXPECT_TRUE(n.contains("lm_head.weight"));
  EXPECT_TRUE(n.contains("model.layers.1.mlp.down_proj.weight"));
  EXPECT_FALSE(n.contains("model.layers.0.self_attn.q_proj.bias"));
  for (const WeightSpec& s : w) {
    if (s.name == "model.layers.0.self_attn.k_proj.weight") {
      EXPECT_EQ(s.shape, (std::vector<int64_t>{8, 8}));  // 2 kv heads x head_dim 4
    }
    if (s.name == "model.layers.0.self_attn.o_proj.weight") {
      EXPECT_EQ(s.shape, (std::vector<int64_t>{8, 16}));
    }
  }
}

TEST(ExpectedWeightsTest, TiedAndBiased) {
  ModelConfig c = SmallConfig();
  c.tie_word_embeddings = true;
  c.qkv_bias = true;
  c.o_bias = true;
  c.mlp_bias = true;
  const std::set<std::string> n = Names(ExpectedWeights(c));
  EXPECT_FALSE(n.contains("lm_head.weight"));
  for (const char* b :
       {"model.layers.1.self_attn.q_proj.bias", "model.layers.1.self_attn.o_proj.bias",
        "model.layers.0.mlp.gate_proj.bias", "model.layers.0.mlp.down_proj.bias"}) {
    EXPECT_TRUE(n.contains(b)) << b;
  }
}

}  // namespace
}  // namespace tessera
