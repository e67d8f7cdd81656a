// `tessera plan` against plans worked out by hand for the Llama-3-8B and Llama-3.2-1B shapes: every
// expected figure below is written from the shapes and the CUDA engine's buffers, not taken from
// the code under test. Also the advice when a model does not fit, the flag parsers and the
// command's exit codes and JSON.
#include "client/vram_plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "client/model_presets.h"
#include "client/plan_command.h"
#include "nlohmann/json.hpp"

namespace tessera {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kGiB = int64_t{1} << 30;
constexpr int64_t kVocab = 128256;

// tesserad's defaults: 2048 tokens and 256 sequences per step, 8 LoRA slots of rank <= 64,
// utilization 0.9, KV blocks of 16 tokens.
VramPlanRequest Defaults(int64_t gpu_bytes, const std::string& quantization = "none") {
  VramPlanRequest r;
  r.gpu_bytes = gpu_bytes;
  r.quantization = quantization;
  r.engine.block_size = 16;
  r.engine.gpu_memory_utilization = 0.9;
  r.engine.max_num_tokens = 2048;
  r.engine.max_num_seqs = 256;
  r.engine.max_loras = 8;
  r.engine.max_lora_rank = 64;
  return r;
}

// The CUDA engine's step workspace for 2048 tokens, 256 sequences, written out buffer by buffer
// (each rounded up to 256 bytes), + cuBLAS's 32 MiB + the tables of 9 LoRA slots of rank 64.
int64_t Align256(int64_t n) { return (n + 255) / 256 * 256; }
int64_t HandWorkspace(int64_t h, int64_t im, int64_t q, int64_t kv, int64_t layers, int64_t heads,
                      int64_t head_dim) {
  const int64_t t = 2048, rows = 256;
  const int64_t activations =
      Align256(t * h * 4) + Align256(t * h * 2) + Align256(t * (q + 2 * kv) * 2) +
      2 * Align256(t * q * 2) + Align256(t * h * 2) + Align256(t * 2 * im * 2) +
      Align256(t * im * 2) + Align256(rows * h * 2) + Align256(rows * kVocab * 4) +
      Align256(rows * 32) + Align256(rows * 180) +
      Align256(1024 * heads * (head_dim + 2) * 4);  // 256 seqs x 64 splits, capped at 1024
  const int64_t descs = 9 * layers * 7;
  const int64_t lora =
      Align256(descs * 24) + Align256(descs * 2 * 64 * 8) + Align256(t * 3 * 64 * 4);
  return activations + (int64_t{32} << 20) + lora;
}

TEST(VramPlanTest, Llama3_8BInBf16OnA24GiBCard) {
  absl::StatusOr<ModelConfig> c = PresetModelConfig("llama-3-8b");
  ASSERT_TRUE(c.ok());
  absl::StatusOr<VramPlan> p = PlanVram(*c, Defaults(24 * kGiB));
  ASSERT_TRUE(p.ok()) << p.status();
  // 2 x vocab x hidden (embedding, lm_head) + final norm + 32 layers of norms, q|k|v, o,
  // gate|up, down: 8,030,261,248 parameters, 2 bytes each.
  EXPECT_EQ(p->weights.total(), 16060522496);
  EXPECT_EQ(p->weights.quantized, 0);
  const int64_t workspace = HandWorkspace(4096, 14336, 4096, 1024, 32, 32, 128);
  EXPECT_EQ(workspace, 489754880);
  EXPECT_EQ(p->inputs.workspace_bytes, workspace);
  EXPECT_EQ(p->kv_bytes_per_token, 2 * 32 * 1024 * 2);  // K and V x layers x kv width x bf16
  const int64_t budget = 23192823398;                   // floor(24 GiB x 0.9)
  EXPECT_EQ(p->plan.budget_bytes, budget);
  const int64_t blocks = (budget - 16060522496 - workspace) / (16 * 131072);
  EXPECT_EQ(blocks, 3167);
  EXPECT_EQ(p->plan.num_kv_blocks, blocks);
  EXPECT_EQ(p->kv_tokens, blocks * 16);
  EXPECT_EQ(p->full_context_seqs, blocks / (8192 / 16));  // 6
  // A rank-64 adapter on all seven projections, rows packed into 32768-value chunks in order:
  // q 8+8, k 8+2, v 8+2, o 8+8, gate 8+32, up 8+32, down 32+8 chunks (up's first A row and
  // down's first B row fill the 4096 values left after two 14336-value rows) = 172 blocks.
  EXPECT_EQ(p->adapter_blocks, 172);
  EXPECT_EQ(p->adapters_in_pool, blocks / 172);
  EXPECT_EQ(p->kv_tokens_with_resident_adapters, (blocks - 8 * 172) * 16);
  EXPECT_TRUE(p->fits);
  EXPECT_TRUE(p->advice.empty());
}

TEST(VramPlanTest, Llama3_8BInAwqCountsScalesAndZerosAndKeepsTheRestInBf16) {
  absl::StatusOr<ModelConfig> c = PresetModelConfig("llama-3-8b");
  ASSERT_TRUE(c.ok());
  absl::StatusOr<VramPlan> p = PlanVram(*c, Defaults(24 * kGiB, "awq"));
  ASSERT_TRUE(p.ok()) << p.status();
  // Per layer 218,103,808 linear weights at 4 bits, + an fp16 scale and zero per 128 of them.
  const int64_t linear = (4096 + 2 * 1024) * 4096 + 4096 * 4096 + 3 * 14336 * 4096;
  EXPECT_EQ(linear, 218103808);
  EXPECT_EQ(p->weights.quantized, 32 * (linear / 2 + linear / 128 * 4));
  // Embedding, lm_head, final norm and two norms per layer stay 2 bytes a value.
  EXPECT_EQ(p->weights.unquantized, (2 * kVocab * 4096 + 4096 + 32 * 2 * 4096) * 2);
  EXPECT_TRUE(p->fits);
  // Prefill steps dequantize gate|up ([28672, 4096]) into a bf16 workspace the engine reserves.
  absl::StatusOr<VramPlan> bf16 = PlanVram(*c, Defaults(24 * kGiB));
  ASSERT_TRUE(bf16.ok());
  EXPECT_EQ(p->inputs.workspace_bytes - bf16->inputs.workspace_bytes, int64_t{28672} * 4096 * 2);
}

TEST(VramPlanTest, OtherFormatsBytesPerWeight) {
  absl::StatusOr<ModelConfig> c = PresetModelConfig("llama-3-8b");
  ASSERT_TRUE(c.ok());
  const int64_t linear = 218103808, layers = 32;
  // Output channels per layer: q 4096 + k, v 1024 each + o 4096 + gate, up 14336 each + down 4096.
  const int64_t channels = 4096 + 2 * 1024 + 4096 + 2 * 14336 + 4096;
  struct Case {
    const char* name;
    int64_t bytes;
  } cases[] = {
      // 1 byte + an fp32 scale and an f16 zero point per channel.
      {"int8", layers * (linear + channels * 6)},
      {"fp8", layers * (linear + channels * 4)},  // 1 byte + an fp32 scale per channel
      // 4 bits + an fp32 absmax per 64 + the 16-entry code book of each of the 7 Linears.
      {"nf4", layers * (linear / 2 + linear / 64 * 4 + 7 * 64)},
      {"int4", layers * (linear / 2 + linear / 128 * 4)},
      {"gptq", layers * (linear / 2 + linear / 128 * 4)},
      {"compressed-tensors", layers * (linear / 2 + linear / 128 * 4)},
  };
  for (const Case& k : cases) {
    absl::StatusOr<WeightQuantization> q = WeightQuantizationNamed(k.name);
    ASSERT_TRUE(q.ok()) << k.name;
    EXPECT_EQ(EstimateWeightBytes(*c, *q).quantized, k.bytes) << k.name;
  }
}

TEST(VramPlanTest, Llama3_2_1BAtFullContextOnA6GiBCardDoesNotFitAndSaysWhatWould) {
  absl::StatusOr<ModelConfig> c = PresetModelConfig("llama-3.2-1b");
  ASSERT_TRUE(c.ok());
  absl::StatusOr<VramPlan> p = PlanVram(*c, Defaults(6 * kGiB));
  ASSERT_TRUE(p.ok()) << p.status();
  // Tied embedding + final norm + 16 layers: 1,235,814,400 parameters.
  const int64_t params =
      kVocab * 2048 + 2048 + 16 * (2 * 2048 + 3072 * 2048 + 2048 * 2048 + 3 * 8192 * 2048);
  EXPECT_EQ(params, 1235814400);
  EXPECT_EQ(p->weights.total(), params * 2);
  // 9 x 16 x 7 LoRA descriptors take 24192 bytes, rounded up to 24320.
  const int64_t workspace = HandWorkspace(2048, 8192, 2048, 512, 16, 32, 64);
  EXPECT_EQ(p->inputs.workspace_bytes, workspace);
  EXPECT_EQ(p->kv_bytes_per_token, 2 * 16 * 512 * 2);
  const int64_t budget = 5798205849;  // floor(6 GiB x 0.9)
  const int64_t blocks = (budget - params * 2 - workspace) / (16 * 32768);
  EXPECT_EQ(p->plan.num_kv_blocks, blocks);
  EXPECT_LT(blocks, 131072 / 16);  // one 131072-token sequence needs 8192 blocks
  EXPECT_EQ(p->full_context_seqs, 0);
  EXPECT_FALSE(p->fits);
  EXPECT_THAT(p->verdict, HasSubstr("need 8192"));
  // int8 still leaves fewer than 8192 blocks: (5798205849 - 2 x 262,670,336 unquantized
  // - 973,078,528 linear - 6 x 16 x 15872 channel scales and zeros - workspace) / 524288 < 8192;
  // int4 fits.
  ASSERT_EQ(p->advice.size(), 2u);
  EXPECT_THAT(p->advice[0], HasSubstr("--quantization int4 fits"));
  EXPECT_THAT(p->advice[1],
              HasSubstr("--max-model-len " + std::to_string(blocks * 16 / 256 * 256)));

  // And that shorter context does fit.
  VramPlanRequest shorter = Defaults(6 * kGiB);
  shorter.engine.max_model_len = blocks * 16 / 256 * 256;
  absl::StatusOr<VramPlan> ok = PlanVram(*c, shorter);
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->fits);
  EXPECT_EQ(ok->full_context_seqs, 1);
}

TEST(VramPlanTest, WeightsAloneOverTheBudgetAdviseAnotherQuantizationOnly) {
  absl::StatusOr<ModelConfig> c = PresetModelConfig("llama-3-8b");
  ASSERT_TRUE(c.ok());
  absl::StatusOr<VramPlan> p = PlanVram(*c, Defaults(16 * kGiB));
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->fits);
  EXPECT_EQ(p->kv_tokens, 0);
  ASSERT_EQ(p->advice.size(), 1u);  // no context is short enough
  EXPECT_THAT(p->advice[0], HasSubstr("--quantization int8 fits"));
  // Nothing fits on 4 GiB: the advice names the budget.
  p = PlanVram(*c, Defaults(4 * kGiB));
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->advice.size(), 1u);
  EXPECT_THAT(p->advice[0], HasSubstr("a larger GPU"));
}

TEST(VramPlanTest, BadRequestsAreErrors) {
  absl::StatusOr<ModelConfig> c = PresetModelConfig("llama-3-8b");
  ASSERT_TRUE(c.ok());
  VramPlanRequest r = Defaults(24 * kGiB);
  r.engine.max_model_len = 8193;
  EXPECT_THAT(PlanVram(*c, r).status().message(),
              HasSubstr("--max-model-len must be in [1, 8192]"));
  EXPECT_THAT(PlanVram(*c, Defaults(24 * kGiB, "int3")).status().message(),
              HasSubstr("--quantization: unknown \"int3\""));
  EXPECT_FALSE(PlanVram(*c, Defaults(0)).ok());
  r = Defaults(24 * kGiB);
  r.engine.gpu_memory_utilization = 1.5;
  EXPECT_TRUE(absl::IsInvalidArgument(PlanVram(*c, r).status()));
}

TEST(VramPlanTest, MemorySizesAndGpuNames) {
  EXPECT_EQ(*ParseMemorySize("24GiB"), 24 * kGiB);
  EXPECT_EQ(*ParseMemorySize("80 GB"), int64_t{80000000000});
  EXPECT_EQ(*ParseMemorySize("16384MiB"), 16 * kGiB);
  EXPECT_EQ(*ParseMemorySize("1.5gib"), 3 * kGiB / 2);
  EXPECT_EQ(*ParseMemorySize("1000"), 1000);
  for (const char* bad : {"", "GiB", "24 parsecs", "-1GiB", "0", "1e99"}) {
    EXPECT_FALSE(ParseMemorySize(bad).ok()) << bad;
  }
  EXPECT_EQ(*GpuMemoryBytes("RTX-4090"), 24 * kGiB);
  EXPECT_EQ(*GpuMemoryBytes("a100-40gb"), 40 * kGiB);
  EXPECT_EQ(*GpuMemoryBytes("h100"), 80 * kGiB);
  EXPECT_EQ(*GpuMemoryBytes("h200"), 141 * kGiB);
  EXPECT_THAT(GpuMemoryBytes("v100").status().message(), HasSubstr("known: rtx-3090"));
}

TEST(PlanCommandTest, ExitCodesTableAndJson) {
  PlanFlags f;
  f.preset = "llama-3-8b";
  f.gpu = "rtx-4090";
  f.request = Defaults(0);
  std::ostringstream out, err;
  EXPECT_EQ(RunPlan(f, out, err), 0);
  EXPECT_THAT(out.str(), HasSubstr("KV tokens"));
  EXPECT_THAT(out.str(), HasSubstr("50672"));  // 3167 blocks x 16
  EXPECT_THAT(out.str(), HasSubstr("fits"));

  f.gpu = "";
  f.gpu_memory = "16GiB";
  f.json = true;
  out.str("");
  EXPECT_EQ(RunPlan(f, out, err), 1);
  const nlohmann::json j = nlohmann::json::parse(out.str());
  EXPECT_FALSE(j["fits"].get<bool>());
  EXPECT_EQ(j["weights"]["total_bytes"].get<int64_t>(), 16060522496);
  EXPECT_EQ(j["kv_bytes_per_token"].get<int64_t>(), 131072);

  f.gpu = "rtx-4090";  // both --gpu and --gpu-memory
  err.str("");
  EXPECT_EQ(RunPlan(f, out, err), 2);
  EXPECT_THAT(err.str(), HasSubstr("exactly one of --gpu-memory and --gpu"));
  f.gpu = "";
  f.dtype = "float32";
  err.str("");
  EXPECT_EQ(RunPlan(f, out, err), 2);
  EXPECT_THAT(err.str(), HasSubstr("--dtype"));
}

}  // namespace
}  // namespace tessera
