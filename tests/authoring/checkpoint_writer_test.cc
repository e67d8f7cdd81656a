// Writer and loader against each other: what tessera writes, tessera (and the format) reads back.
#include "authoring/checkpoint_writer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "authoring/safetensors_writer.h"
#include "engine/checkpoint.h"
#include "engine/model_config.h"
#include "engine/model_weights.h"
#include "engine/safetensors.h"

namespace tessera {
namespace {

ModelConfig Small() {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.model_type = "llama";
  c.vocab_size = 50;
  c.hidden_size = 16;
  c.intermediate_size = 24;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 10000;
  c.max_position_embeddings = 256;
  c.bos_token_id = 1;
  c.eos_token_ids = {2, 3};
  c.layer_sliding_window.assign(3, 0);
  return c;
}

std::string TempDir(const std::string& name) {
  const std::string dir = testing::TempDir() + "/checkpoint_writer_test_" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

TEST(SafetensorsWriterTest, RoundTripsThroughTheReader) {
  std::vector<TensorToWrite> tensors = {
      {"b", DType::kF32, {2, 2}, std::string(16, '\x01')},
      {"a", DType::kBF16, {3}, std::string("\x10\x20\x30\x40\x50\x60", 6)},
      {"scalar", DType::kF16, {}, std::string("\x00\x3c", 2)},
  };
  absl::StatusOr<std::string> image = SerializeSafetensors(tensors, {{"format", "pt"}});
  ASSERT_TRUE(image.ok()) << image.status();
  uint64_t header_len = 0;
  std::memcpy(&header_len, image->data(), 8);
  EXPECT_EQ(header_len % 8, 0u);  // data starts 8-byte aligned
  auto file = SafetensorsFile::FromBytes(*image, "mem");
  ASSERT_TRUE(file.ok()) << file.status();
  for (const TensorToWrite& t : tensors) {
    const TensorView* v = (*file)->Find(t.name);
    ASSERT_NE(v, nullptr) << t.name;
    EXPECT_EQ(v->dtype, t.dtype);
    EXPECT_EQ(v->shape, t.shape);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(v->data.data()), v->data.size()), t.bytes);
  }
  EXPECT_EQ((*file)->metadata().at("format"), "pt");
}

TEST(SafetensorsWriterTest, RefusesInconsistentInput) {
  EXPECT_FALSE(SerializeSafetensors({{"x", DType::kF32, {3}, std::string(8, '\0')}}).ok());
  EXPECT_FALSE(SerializeSafetensors({{"x", DType::kF32, {1}, std::string(4, '\0')},
                                     {"x", DType::kF32, {1}, std::string(4, '\0')}})
                   .ok());
}

TEST(CheckpointWriterTest, ConfigRoundTripsThroughTheLoader) {
  ModelConfig c = Small();
  absl::StatusOr<ModelConfig> back = ParseModelConfig(ModelConfigToJson(c), "config.json");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->bos_token_id, 1);
  EXPECT_EQ(back->eos_token_ids, (std::vector<int64_t>{2, 3}));
  // A model without BOS (Qwen2's way) is written as null, not as -1, which the loader refuses.
  c.bos_token_id = -1;
  back = ParseModelConfig(ModelConfigToJson(c), "config.json");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->bos_token_id, -1);
}

TEST(CheckpointWriterTest, ShardedAndSingleFileHoldTheSameTensors) {
  const ModelConfig c = Small();
  const std::string one = TempDir("one"), three = TempDir("three");
  RandomCheckpointOptions o;
  o.seed = 5;
  ASSERT_TRUE(WriteRandomCheckpoint(one, c, o).ok());
  o.num_shards = 3;
  ASSERT_TRUE(WriteRandomCheckpoint(three, c, o).ok());
  EXPECT_TRUE(std::filesystem::exists(three + "/model.safetensors.index.json"));
  EXPECT_TRUE(std::filesystem::exists(three + "/model-00003-of-00003.safetensors"));

  auto a = Checkpoint::Open(one);
  auto b = Checkpoint::Open(three);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(ValidateCheckpoint(c, **a).ok());
  EXPECT_TRUE(ValidateCheckpoint(c, **b).ok());
  EXPECT_EQ((*a)->Names(), (*b)->Names());
  for (const std::string& name : (*a)->Names()) {
    const TensorView* x = (*a)->Find(name);
    const TensorView* y = (*b)->Find(name);
    ASSERT_EQ(x->data.size(), y->data.size());
    EXPECT_EQ(std::memcmp(x->data.data(), y->data.data(), x->data.size()), 0) << name;
  }

  // config.json reads back as the config it came from.
  auto back = LoadModelConfig(one);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->architecture, c.architecture);
  EXPECT_EQ(back->hidden_size, c.hidden_size);
  EXPECT_EQ(back->num_key_value_heads, c.num_key_value_heads);
  EXPECT_EQ(back->head_dim, c.head_dim);
  EXPECT_EQ(back->eos_token_ids, (std::vector<int64_t>{2, 3}));
  EXPECT_DOUBLE_EQ(back->rms_norm_eps, c.rms_norm_eps);
}

TEST(CheckpointWriterTest, EveryDTypeLoads) {
  for (DType t : {DType::kBF16, DType::kF16, DType::kF32}) {
    const std::string dir = TempDir(DTypeName(t));
    RandomCheckpointOptions o;
    o.dtype = t;
    ASSERT_TRUE(WriteRandomCheckpoint(dir, Small(), o).ok());
    auto ckpt = Checkpoint::Open(dir);
    ASSERT_TRUE(ckpt.ok()) << ckpt.status();
    const TensorView* norm = (*ckpt)->Find("model.norm.weight");
    ASSERT_NE(norm, nullptr);
    EXPECT_EQ(norm->dtype, t);
    std::vector<float> v(norm->NumElements());
    ConvertToFloat(t, norm->data.data(), v.size(), v.data());
    for (float x : v) {  // norms are drawn from [0.8, 1.2]
      EXPECT_GE(x, 0.79f);
      EXPECT_LE(x, 1.21f);
    }
  }
}

}  // namespace
}  // namespace tessera
