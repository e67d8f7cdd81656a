// Golden LoRA tests: the CPU reference engine with the fixture PEFT adapters in its slots against
// Hugging Face transformers + PEFT (fp32) on tiny-llama: teacher-forced log-probabilities and
// greedy tokens for each adapter, one batch mixing the base model and all three adapters, and the
// base model untouched by adapters sitting in slots.
//
// The engine is driven with step plans directly (the scheduler does not route adapters yet): one
// step teacher-forces every sequence, or one prefill step then one decode step per greedy token.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "adapters/peft_loader.h"
#include "engine/cpu/cpu_engine.h"
#include "tests/engine/cpu/golden_reference.h"
#include "tests/engine/cpu/lora_lanes.h"

namespace tessera {
namespace {

constexpr double kTolerance = 1e-3;  // fp32 engine vs fp32 transformers + PEFT, absolute
const std::string kFixtures = TESSERA_FIXTURES_DIR;
const std::string kModelDir = kFixtures + "/models/tiny-llama";
const std::vector<std::string> kAdapters = {"tiny-llama-r8-all", "tiny-llama-r16-attn",
                                            "tiny-llama-r4-mlp"};

std::vector<GoldenCase> Reference(const std::string& adapter) {
  return LoadGoldenCases(kFixtures + "/refs/tiny-llama" + (adapter.empty() ? "" : "+" + adapter) +
                         ".public.json");
}

class LoraGoldenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const std::string& a : kAdapters) {
      if (!std::filesystem::exists(kFixtures + "/adapters/" + a)) {
        GTEST_SKIP() << "fixtures not found at " << kFixtures;
      }
    }
    auto engine = CpuEngine::Load(kModelDir, CpuEngineOptions{});
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    base_ref_ = Reference("");
    for (const std::string& a : kAdapters) {
      absl::StatusOr<PeftAdapter> adapter =
          LoadPeftAdapter(kFixtures + "/adapters/" + a, engine_->config());
      ASSERT_TRUE(adapter.ok()) << adapter.status();
      adapters_.push_back(adapter->weights);
      refs_.push_back(Reference(a));
      ASSERT_EQ(refs_.back().size(), 8u);
    }
  }

  std::unique_ptr<CpuEngine> engine_;
  std::vector<GoldenCase> base_ref_;
  std::vector<std::shared_ptr<const LoraWeights>> adapters_;  // in kAdapters order
  std::vector<std::vector<GoldenCase>> refs_;
};

TEST_F(LoraGoldenTest, EachAdapterMatchesPeft) {
  for (size_t a = 0; a < kAdapters.size(); ++a) {
    ASSERT_TRUE(engine_->SetAdapter(3, adapters_[a], {}).ok());
    std::vector<Lane> lanes;
    for (size_t i = 0; i < refs_[a].size(); ++i) {
      lanes.push_back({&refs_[a][i], 3, kAdapters[a] + " case " + std::to_string(i)});
    }
    const std::vector<SequenceOutput> tf = TeacherForce(*engine_, lanes);
    ASSERT_EQ(tf.size(), lanes.size());
    for (size_t i = 0; i < lanes.size(); ++i)
      ExpectMatchesTeacherForced(tf[i], lanes[i], kTolerance);
    const std::vector<std::vector<int32_t>> greedy = Greedy(*engine_, lanes);
    for (size_t i = 0; i < lanes.size(); ++i) ExpectMatchesGreedy(greedy[i], lanes[i], kTolerance);
  }
}

// The adapters change the model: their references differ from the base model's (so a test that
// silently ran the base model would fail above).
TEST_F(LoraGoldenTest, AdapterReferencesDifferFromTheBaseModel) {
  for (size_t a = 0; a < kAdapters.size(); ++a) {
    double diff = 0;
    for (size_t i = 0; i < base_ref_.size(); ++i) {
      ASSERT_EQ(refs_[a][i].prompt_ids, base_ref_[i].prompt_ids);
      diff = std::max(diff, std::abs(refs_[a][i].tf_logprobs[0] - base_ref_[i].tf_logprobs[0]));
    }
    EXPECT_GT(diff, 10 * kTolerance) << kAdapters[a];
  }
}

// All 8 prompts under the base model and each adapter, 32 sequences in the same steps (adapters in
// slots that are not their index order), interleaved so that neighbouring rows differ.
TEST_F(LoraGoldenTest, OneBatchMixingBaseAndAllAdaptersGivesEachItsOwnReference) {
  const std::vector<int32_t> slots = {5, 0, 2};
  for (size_t a = 0; a < kAdapters.size(); ++a) {
    ASSERT_TRUE(engine_->SetAdapter(slots[a], adapters_[a], {}).ok());
  }
  std::vector<Lane> lanes;
  for (size_t i = 0; i < base_ref_.size(); ++i) {
    lanes.push_back({&base_ref_[i], -1, "base case " + std::to_string(i)});
    for (size_t a = 0; a < kAdapters.size(); ++a) {
      lanes.push_back({&refs_[a][i], slots[a], kAdapters[a] + " case " + std::to_string(i)});
    }
  }
  const std::vector<SequenceOutput> tf = TeacherForce(*engine_, lanes);
  ASSERT_EQ(tf.size(), lanes.size());
  for (size_t i = 0; i < lanes.size(); ++i) ExpectMatchesTeacherForced(tf[i], lanes[i], kTolerance);
  const std::vector<std::vector<int32_t>> greedy = Greedy(*engine_, lanes);
  for (size_t i = 0; i < lanes.size(); ++i) ExpectMatchesGreedy(greedy[i], lanes[i], kTolerance);
}

// Base-model sequences give the same bits whether adapters sit in slots (and run beside them in
// the step) or every slot is empty, and match transformers without PEFT.
TEST_F(LoraGoldenTest, BaseModelIsUnchangedByAdaptersInSlots) {
  std::vector<Lane> base, mixed;
  for (size_t i = 0; i < base_ref_.size(); ++i) {
    base.push_back({&base_ref_[i], -1, "base case " + std::to_string(i)});
    mixed.push_back(base.back());
    mixed.push_back({&refs_[0][i], 3, kAdapters[0] + " case " + std::to_string(i)});
  }
  const std::vector<SequenceOutput> alone = TeacherForce(*engine_, base);
  // Every slot full; slot 3 holds adapters_[0], the one the mixed lanes use.
  for (int32_t slot = 0; slot < engine_->num_adapter_slots(); ++slot) {
    ASSERT_TRUE(engine_->SetAdapter(slot, adapters_[slot % adapters_.size()], {}).ok());
  }
  const std::vector<SequenceOutput> with_slots = TeacherForce(*engine_, base);
  const std::vector<SequenceOutput> beside = TeacherForce(*engine_, mixed);
  ASSERT_EQ(alone.size(), base.size());
  ASSERT_EQ(with_slots.size(), base.size());
  ASSERT_EQ(beside.size(), mixed.size());
  for (size_t i = 0; i < base.size(); ++i) {
    ExpectMatchesTeacherForced(alone[i], base[i], kTolerance);
    for (size_t t = 0; t + 1 < alone[i].prompt_logprobs.size(); ++t) {
      const float want = alone[i].prompt_logprobs[t]->chosen.logprob;
      ASSERT_EQ(with_slots[i].prompt_logprobs[t]->chosen.logprob, want) << i << " " << t;
      ASSERT_EQ(beside[2 * i].prompt_logprobs[t]->chosen.logprob, want) << i << " " << t;
    }
  }
  const std::vector<std::vector<int32_t>> greedy = Greedy(*engine_, mixed);
  for (size_t i = 0; i < mixed.size(); ++i) ExpectMatchesGreedy(greedy[i], mixed[i], kTolerance);
}

}  // namespace
}  // namespace tessera
