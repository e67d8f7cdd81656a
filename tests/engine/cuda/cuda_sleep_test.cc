// Sleep mode on the CUDA engine: both levels give the device memory back (weights, KV pool,
// workspace), refuse steps while asleep, and wake to the same greedy outputs and KV geometry, with
// CUDA graphs captured again after the wake. Label "gpu": skipped without a device.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/cuda/cuda_engine.h"
#include "scheduler/offline_scheduler.h"
#include "tests/engine/cuda/gpu_test_util.h"

namespace tessera {
namespace {

const std::string kFixtures = ::tessera::testing::FixturesDir();

std::vector<std::vector<int32_t>> Greedy(Engine& engine) {
  std::vector<GenerateRequest> requests;
  for (int i = 0; i < 4; ++i) {
    GenerateRequest r;
    r.id = std::to_string(i);
    for (int j = 0; j < 8 + 5 * i; ++j) r.prompt_token_ids.push_back(1 + (37 * i + 11 * j) % 31000);
    r.max_tokens = 16;
    r.ignore_eos = true;
    requests.push_back(r);
  }
  OfflineScheduler scheduler(engine, OfflineSchedulerOptions{});
  auto results = scheduler.Run(requests);
  EXPECT_TRUE(results.ok()) << results.status();
  std::vector<std::vector<int32_t>> out;
  if (!results.ok()) return out;
  for (const GenerateResult& r : *results) out.push_back(r.output_token_ids);
  return out;
}

int64_t FreeDeviceBytes() {
  size_t free_bytes = 0, total = 0;
  cudaMemGetInfo(&free_bytes, &total);
  return static_cast<int64_t>(free_bytes);
}

class CudaSleepTest : public ::testing::TestWithParam<SleepLevel> {};

TEST_P(CudaSleepTest, FreesTheDeviceAndWakesComputingTheSame) {
  TESSERA_SKIP_WITHOUT_GPU();
  const std::string model = kFixtures + "/models/tiny-llama";
  if (!std::filesystem::exists(model)) GTEST_SKIP() << "fixtures not found at " << kFixtures;
  CudaEngineOptions o;
  o.num_kv_blocks = 4096;  // a KV pool big enough that its release is plain in cudaMemGetInfo
  o.max_num_tokens = 2048;
  o.cuda_graphs = true;
  absl::StatusOr<std::unique_ptr<CudaEngine>> loaded = CudaEngine::Load(model, o);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  CudaEngine& engine = **loaded;
  const std::vector<std::vector<int32_t>> before = Greedy(engine);
  ASSERT_EQ(before.size(), 4u);
  const KvCacheGeometry geometry = engine.kv_geometry();
  const int64_t held = engine.memory_plan().kv_bytes + engine.memory_plan().weight_bytes;

  for (int round = 0; round < 2; ++round) {
    const int64_t awake_free = FreeDeviceBytes();
    ASSERT_TRUE(engine.Sleep(GetParam()).ok());
    EXPECT_GE(FreeDeviceBytes() - awake_free, held * 9 / 10);
    StepPlan plan;
    plan.AddSequence({1, 2, 3}, {0}, geometry.block_size, StepSequence{});
    EXPECT_EQ(engine.Step(plan).status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(engine.Sleep(GetParam()).code(), absl::StatusCode::kFailedPrecondition);

    ASSERT_TRUE(engine.WakeUp().ok());
    EXPECT_EQ(engine.kv_geometry().num_blocks, geometry.num_blocks);
    EXPECT_EQ(Greedy(engine), before) << "round " << round;
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, CudaSleepTest,
                         ::testing::Values(SleepLevel::kOffloadWeights,
                                           SleepLevel::kDiscardWeights),
                         [](const ::testing::TestParamInfo<SleepLevel>& info) {
                           return std::string(SleepStateLabel(info.param));
                         });

TEST(CudaSleepRandomTest, GeneratedWeightsSleepAtLevelOneOnly) {
  TESSERA_SKIP_WITHOUT_GPU();
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.vocab_size = 512;
  c.hidden_size = 128;
  c.intermediate_size = 256;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.head_dim = 64;
  c.rms_norm_eps = 1e-5;
  c.max_position_embeddings = 256;
  c.layer_sliding_window = {0, 0};
  CudaEngineOptions o;
  o.num_kv_blocks = 64;
  o.max_num_tokens = 256;
  absl::StatusOr<std::unique_ptr<CudaEngine>> engine = CudaEngine::CreateRandom(c, 3, o);
  ASSERT_TRUE(engine.ok()) << engine.status();
  EXPECT_EQ((*engine)->Sleep(SleepLevel::kDiscardWeights).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE((*engine)->Sleep(SleepLevel::kOffloadWeights).ok());
  EXPECT_TRUE((*engine)->WakeUp().ok());
}

}  // namespace
}  // namespace tessera
