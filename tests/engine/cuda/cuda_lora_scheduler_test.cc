// The CUDA engine's LoRA under the real scheduler: requests naming adapters (the three fixture
// adapters and the base model, mixed) through OfflineScheduler, which lends the adapters KV
// blocks and swaps them through fewer slots than adapters. Each request must get its own PEFT
// reference, within twice the case's bf16 deviation.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "adapters/peft_loader.h"
#include "engine/cuda/cuda_engine.h"
#include "scheduler/offline_scheduler.h"
#include "tests/engine/cpu/golden_reference.h"
#include "tests/engine/cuda/gpu_test_util.h"

namespace tessera {
namespace {

const std::string kFixtures = ::tessera::testing::FixturesDir();  // env overrides
const std::string kModelDir = kFixtures + "/models/tiny-llama";
const std::vector<std::string> kAdapters = {"tiny-llama-r8-all", "tiny-llama-r16-attn",
                                            "tiny-llama-r4-mlp"};

std::vector<GoldenCase> Reference(const std::string& adapter) {
  return LoadGoldenCases(kFixtures + "/refs/tiny-llama" + (adapter.empty() ? "" : "+" + adapter) +
                         ".public.json");
}

TEST(CudaLoraSchedulerTest, MixedRequestsThroughTwoSlotsEachMatchTheirReference) {
  TESSERA_SKIP_WITHOUT_GPU();
  for (const std::string& a : kAdapters) {
    if (!std::filesystem::exists(kFixtures + "/adapters/" + a)) {
      GTEST_SKIP() << "fixtures not found at " << kFixtures;
    }
  }
  CudaEngineOptions o;
  o.num_kv_blocks = 512;
  o.max_num_tokens = 2048;
  o.max_loras = 2;  // three adapters: slots are refilled while requests flow
  o.max_lora_rank = 16;
  auto engine = CudaEngine::Load(kModelDir, o);
  ASSERT_TRUE(engine.ok()) << engine.status();
  const std::vector<GoldenCase> base = Reference("");
  std::vector<std::shared_ptr<const AdapterRef>> refs_of(kAdapters.size());
  std::vector<std::vector<GoldenCase>> refs;
  for (size_t a = 0; a < kAdapters.size(); ++a) {
    absl::StatusOr<PeftAdapter> adapter =
        LoadPeftAdapter(kFixtures + "/adapters/" + kAdapters[a], (*engine)->config());
    ASSERT_TRUE(adapter.ok()) << adapter.status();
    auto ref = std::make_shared<AdapterRef>();
    ref->name = kAdapters[a];
    ref->weights = adapter->weights;
    refs_of[a] = ref;
    refs.push_back(Reference(kAdapters[a]));
  }
  std::vector<GenerateRequest> requests;
  std::vector<const GoldenCase*> want;
  for (size_t i = 0; i < base.size(); ++i) {
    for (size_t a = 0; a <= kAdapters.size(); ++a) {
      const bool is_base = a == kAdapters.size();
      const GoldenCase& c = is_base ? base[i] : refs[a][i];
      GenerateRequest r = GreedyRequest(c, "r" + std::to_string(requests.size()));
      if (!is_base) r.adapter = refs_of[a];
      requests.push_back(std::move(r));
      want.push_back(&c);
    }
  }
  OfflineScheduler scheduler(**engine, OfflineSchedulerOptions{});
  auto results = scheduler.Run(requests);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const GenerateResult& r = (*results)[i];
    ASSERT_TRUE(r.status.ok()) << requests[i].id << ": " << r.status;
    const GoldenCase& c = *want[i];
    ASSERT_EQ(r.output_token_ids.size(), c.greedy.size()) << requests[i].id;
    size_t compared = 0;
    for (size_t s = 0; s < c.greedy.size() && c.margins[s] >= 2 * c.bf16_max_abs_logprob_dev;
         ++s, ++compared) {
      ASSERT_EQ(r.output_token_ids[s], c.greedy[s]) << requests[i].id << " step " << s;
    }
    EXPECT_GT(compared, 0u) << requests[i].id;
  }
}

}  // namespace
}  // namespace tessera
