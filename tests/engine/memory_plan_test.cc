// The device memory plan is plain arithmetic: tested everywhere, GPU or not.
#include "engine/memory_plan.h"

#include <gtest/gtest.h>

namespace tessera {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

MemoryPlanInputs H100Like() {
  MemoryPlanInputs in;
  in.device_total_bytes = 80 * kGiB;
  in.device_free_bytes = 79 * kGiB;
  in.gpu_memory_utilization = 0.9;
  in.weight_bytes = 16 * kGiB;
  in.workspace_bytes = 2 * kGiB;
  in.kv_bytes_per_block = 2 * 1024 * 1024;
  return in;
}

TEST(MemoryPlanTest, KvGetsWhatWeightsAndWorkspaceLeave) {
  auto plan = PlanDeviceMemory(H100Like());
  ASSERT_TRUE(plan.ok()) << plan.status();
  // 72 GiB budget - 1 GiB held elsewhere - 16 - 2 = 53 GiB of 2 MiB blocks.
  EXPECT_EQ(plan->budget_bytes, 72 * kGiB);
  EXPECT_EQ(plan->num_kv_blocks, 53 * 512);
  EXPECT_EQ(plan->kv_bytes, int64_t{53} * kGiB);
  EXPECT_NE(plan->ToString().find("53.00 GiB"), std::string::npos) << plan->ToString();
}

TEST(MemoryPlanTest, ExplicitBlockCountIsHonouredWhenItFits) {
  MemoryPlanInputs in = H100Like();
  in.num_kv_blocks = 100;
  auto plan = PlanDeviceMemory(in);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->num_kv_blocks, 100);
  in.num_kv_blocks = 53 * 512 + 1;
  EXPECT_TRUE(absl::IsResourceExhausted(PlanDeviceMemory(in).status()));
}

TEST(MemoryPlanTest, ImpossiblePlanNamesTheNumbers) {
  MemoryPlanInputs in = H100Like();
  in.weight_bytes = 75 * kGiB;
  auto plan = PlanDeviceMemory(in);
  ASSERT_FALSE(plan.ok());
  EXPECT_TRUE(absl::IsResourceExhausted(plan.status()));
  const std::string msg(plan.status().message());
  EXPECT_NE(msg.find("weights 75.00 GiB"), std::string::npos) << msg;
  EXPECT_NE(msg.find("room for 0 KV blocks"), std::string::npos) << msg;
}

TEST(MemoryPlanTest, TooFewBlocksForTheLongestRequestIsAnError) {
  MemoryPlanInputs in = H100Like();
  in.min_kv_blocks = 53 * 512 + 1;
  EXPECT_TRUE(absl::IsResourceExhausted(PlanDeviceMemory(in).status()));
}

TEST(MemoryPlanTest, UtilizationOutOfRangeIsInvalid) {
  MemoryPlanInputs in = H100Like();
  for (double u : {0.0, -0.5, 1.01}) {
    in.gpu_memory_utilization = u;
    EXPECT_TRUE(absl::IsInvalidArgument(PlanDeviceMemory(in).status())) << u;
  }
}

TEST(MemoryPlanTest, KvBlockBytesCountEveryLayerKAndV) {
  ModelConfig c;
  c.num_hidden_layers = 32;
  c.num_key_value_heads = 8;
  c.head_dim = 128;
  EXPECT_EQ(CudaKvBytesPerBlock(c, 16), int64_t{32} * 2 * 16 * 8 * 128 * 2);
}

// Llama-3-8B's shape (Meta's config.json).
ModelConfig Llama3_8B() {
  ModelConfig c;
  c.vocab_size = 128256;
  c.hidden_size = 4096;
  c.intermediate_size = 14336;
  c.num_hidden_layers = 32;
  c.num_attention_heads = 32;
  c.num_key_value_heads = 8;
  c.head_dim = 128;
  c.max_position_embeddings = 8192;
  return c;
}

TEST(MemoryPlanTest, EngineInputsForLlama3_8B) {
  CudaMemoryOptions o;  // tesserad's step: 2048 tokens, 256 sequences; no LoRA
  o.max_num_tokens = 2048;
  o.max_num_seqs = 256;
  const MemoryPlanInputs in = CudaMemoryPlanInputs(Llama3_8B(), o);
  // Written out by hand: every buffer below is a multiple of 256 bytes, so alignment adds nothing.
  const int64_t t = 2048, h = 4096, im = 14336, q = 4096, kv = 1024, vocab = 128256, rows = 256;
  const int64_t activations = t * h * 4                          // residual stream, fp32
                              + t * h * 2                        // normed
                              + t * (q + 2 * kv) * 2             // qkv
                              + 2 * t * q * 2                    // rotated q, attention output
                              + t * h * 2                        // o/down output
                              + t * 2 * im * 2 + t * im * 2      // gate|up, activation
                              + rows * h * 2 + rows * vocab * 4  // lm_head rows and logits
                              + rows * 32 + rows * 180           // sampler requests, results
                              + 1024 * 32 * (128 + 2) * 4;       // split-KV partials
  EXPECT_EQ(activations, 452514816);
  EXPECT_EQ(CudaActivationBytes(Llama3_8B(), o), activations);
  EXPECT_EQ(in.workspace_bytes, activations + (int64_t{32} << 20));   // + cuBLAS
  EXPECT_EQ(in.kv_bytes_per_block, int64_t{32} * 2 * 16 * 1024 * 2);  // 2 MiB
  EXPECT_EQ(in.min_kv_blocks, 8192 / 16);  // one request of the model's whole context
  EXPECT_EQ(in.num_kv_blocks, 0);
}

TEST(MemoryPlanTest, QuantizedLinearsAddTheDequantizeWorkspaceOfLargeSteps) {
  CudaMemoryOptions o;
  o.max_num_tokens = 2048;
  const int64_t bf16 = CudaActivationBytes(Llama3_8B(), o);
  o.quantized = true;
  // Steps over 16 rows dequantize one Linear at a time: the largest is gate|up, [28672, 4096].
  EXPECT_EQ(CudaActivationBytes(Llama3_8B(), o) - bf16, int64_t{28672} * 4096 * 2);
  EXPECT_EQ(CudaQuantDequantizeElems(Llama3_8B(), 2048), int64_t{28672} * 4096);
  // Steps of at most 16 rows never leave the weight-streaming kernel.
  o.max_num_tokens = 16;
  const int64_t decode_only = CudaActivationBytes(Llama3_8B(), o);
  o.quantized = false;
  EXPECT_EQ(decode_only, CudaActivationBytes(Llama3_8B(), o));
}

TEST(MemoryPlanTest, LoraSlotsAddTheirTablesAndMaxModelLenSetsTheMinimum) {
  CudaMemoryOptions o;
  o.max_num_tokens = 2048;
  o.max_num_seqs = 256;
  const int64_t base = CudaMemoryPlanInputs(Llama3_8B(), o).workspace_bytes;
  o.max_loras = 8;
  o.max_lora_rank = 64;
  o.max_model_len = 1000;
  const MemoryPlanInputs in = CudaMemoryPlanInputs(Llama3_8B(), o);
  // 9 slots (8 + the engine's empty one) x 32 layers x 7 modules: 24-byte descriptors, two row
  // pointers per rank, and the shrink scratch of 2048 rows x 3 projections x rank 64 floats.
  const int64_t descs = 9 * 32 * 7;
  EXPECT_EQ(in.workspace_bytes - base, descs * 24 + descs * 2 * 64 * 8 + 2048 * 3 * 64 * 4);
  EXPECT_EQ(in.min_kv_blocks, 63);  // ceil(1000 / 16)
}

TEST(MemoryPlanTest, Bf16WeightsOfLlama3_8B) {
  const int64_t vocab = 128256, h = 4096, im = 14336, kv = 1024, layers = 32;
  const int64_t params =
      2 * vocab * h + h + layers * (2 * h + (h + 2 * kv) * h + h * h + 3 * im * h);
  EXPECT_EQ(params, 8030261248);  // the published 8.03B
  EXPECT_EQ(CudaBf16WeightBytes(Llama3_8B()), params * 2);
}

}  // namespace
}  // namespace tessera
