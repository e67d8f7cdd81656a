// The device memory plan is plain arithmetic: tested everywhere, GPU or not.
#include "engine/cuda/memory_plan.h"

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

}  // namespace
}  // namespace tessera
