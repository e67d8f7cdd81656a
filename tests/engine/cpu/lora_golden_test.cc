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

// One sequence of a batch: a reference case and the adapter slot it runs with.
struct Lane {
  const GoldenCase* ref;
  int32_t slot;  // -1: base model
  std::string name;
};

// Consecutive blocks for each lane, enough for its prompt, its greedy tokens and one more.
std::vector<std::vector<int32_t>> AssignBlocks(const std::vector<Lane>& lanes, int32_t bs) {
  std::vector<std::vector<int32_t>> blocks;
  int32_t next = 0;
  for (const Lane& lane : lanes) {
    const auto n = static_cast<int32_t>(lane.ref->prompt_ids.size() + lane.ref->greedy.size());
    std::vector<int32_t> b((n + bs) / bs);
    std::iota(b.begin(), b.end(), next);
    next += static_cast<int32_t>(b.size());
    blocks.push_back(std::move(b));
  }
  return blocks;
}

// Every lane's prompt + greedy fed in one step, with the top-5 log-probabilities of each next
// token.
std::vector<SequenceOutput> TeacherForce(Engine& engine, const std::vector<Lane>& lanes) {
  const int32_t bs = engine.kv_geometry().block_size;
  const std::vector<std::vector<int32_t>> blocks = AssignBlocks(lanes, bs);
  StepPlan plan;
  for (size_t i = 0; i < lanes.size(); ++i) {
    std::vector<int32_t> tokens = lanes[i].ref->prompt_ids;
    tokens.insert(tokens.end(), lanes[i].ref->greedy.begin(), lanes[i].ref->greedy.end());
    StepSequence seq;
    seq.adapter_slot = lanes[i].slot;
    seq.prompt_targets.assign(tokens.size(), -1);
    for (size_t j = 0; j + 1 < tokens.size(); ++j) seq.prompt_targets[j] = tokens[j + 1];
    seq.prompt_top_k = 5;
    plan.AddSequence(tokens, blocks[i], bs, std::move(seq));
  }
  absl::StatusOr<StepResult> r = engine.Step(plan);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? r->seqs : std::vector<SequenceOutput>{};
}

// Greedy decoding of every lane together: a prefill step, then one decode step per token.
std::vector<std::vector<int32_t>> Greedy(Engine& engine, const std::vector<Lane>& lanes) {
  const int32_t bs = engine.kv_geometry().block_size;
  const std::vector<std::vector<int32_t>> blocks = AssignBlocks(lanes, bs);
  const size_t steps = lanes[0].ref->greedy.size();
  std::vector<std::vector<int32_t>> out(lanes.size());
  for (size_t step = 0; step < steps; ++step) {
    StepPlan plan;
    for (size_t i = 0; i < lanes.size(); ++i) {
      StepSequence seq;
      seq.adapter_slot = lanes[i].slot;
      seq.sample = true;  // temperature 0: greedy
      const std::vector<int32_t>& prompt = lanes[i].ref->prompt_ids;
      if (step == 0) {
        plan.AddSequence(prompt, blocks[i], bs, std::move(seq));
      } else {
        seq.num_cached_tokens = static_cast<int64_t>(prompt.size() + step - 1);
        plan.AddSequence({out[i].back()}, blocks[i], bs, std::move(seq));
      }
    }
    absl::StatusOr<StepResult> r = engine.Step(plan);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return out;
    for (size_t i = 0; i < lanes.size(); ++i) out[i].push_back(r->seqs[i].sampled_token);
  }
  return out;
}

void ExpectMatchesTeacherForced(const SequenceOutput& got, const Lane& lane) {
  const GoldenCase& c = *lane.ref;
  ASSERT_EQ(got.prompt_logprobs.size(), c.tf_logprobs.size() + 1) << lane.name;
  double worst = 0;
  for (size_t t = 0; t < c.tf_logprobs.size(); ++t) {
    ASSERT_TRUE(got.prompt_logprobs[t].has_value()) << lane.name << " position " << t;
    const LogprobEntry& e = *got.prompt_logprobs[t];
    worst = std::max(worst, std::abs(e.chosen.logprob - c.tf_logprobs[t]));
    ASSERT_EQ(e.top.size(), 5u);
    for (size_t k = 0; k < 5; ++k) {
      EXPECT_NEAR(e.top[k].logprob, c.top5_logprobs[t][k], kTolerance)
          << lane.name << " position " << t << " rank " << k;
      // Ids must agree unless the reference itself has a near-tie at this rank.
      const bool tie_before =
          k > 0 && c.top5_logprobs[t][k - 1] - c.top5_logprobs[t][k] < kTolerance;
      const bool tie_after =
          k < 4 && c.top5_logprobs[t][k] - c.top5_logprobs[t][k + 1] < kTolerance;
      if (!tie_before && !tie_after) {
        EXPECT_EQ(e.top[k].token_id, c.top5_ids[t][k]) << lane.name << " position " << t;
      }
    }
  }
  EXPECT_LT(worst, kTolerance) << lane.name;
  EXPECT_FALSE(got.prompt_logprobs.back().has_value());
}

// Tokens agree up to the first step whose reference margin is below the tolerance.
void ExpectMatchesGreedy(const std::vector<int32_t>& got, const Lane& lane) {
  const GoldenCase& c = *lane.ref;
  ASSERT_EQ(got.size(), c.greedy.size()) << lane.name;
  size_t compared = 0;
  for (size_t s = 0; s < c.greedy.size() && c.margins[s] >= kTolerance; ++s, ++compared) {
    ASSERT_EQ(got[s], c.greedy[s]) << lane.name << " step " << s;
  }
  EXPECT_GT(compared, 0u) << lane.name;
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
    for (size_t i = 0; i < lanes.size(); ++i) ExpectMatchesTeacherForced(tf[i], lanes[i]);
    const std::vector<std::vector<int32_t>> greedy = Greedy(*engine_, lanes);
    for (size_t i = 0; i < lanes.size(); ++i) ExpectMatchesGreedy(greedy[i], lanes[i]);
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
  for (size_t i = 0; i < lanes.size(); ++i) ExpectMatchesTeacherForced(tf[i], lanes[i]);
  const std::vector<std::vector<int32_t>> greedy = Greedy(*engine_, lanes);
  for (size_t i = 0; i < lanes.size(); ++i) ExpectMatchesGreedy(greedy[i], lanes[i]);
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
    ExpectMatchesTeacherForced(alone[i], base[i]);
    for (size_t t = 0; t + 1 < alone[i].prompt_logprobs.size(); ++t) {
      const float want = alone[i].prompt_logprobs[t]->chosen.logprob;
      ASSERT_EQ(with_slots[i].prompt_logprobs[t]->chosen.logprob, want) << i << " " << t;
      ASSERT_EQ(beside[2 * i].prompt_logprobs[t]->chosen.logprob, want) << i << " " << t;
    }
  }
  const std::vector<std::vector<int32_t>> greedy = Greedy(*engine_, mixed);
  for (size_t i = 0; i < mixed.size(); ++i) ExpectMatchesGreedy(greedy[i], mixed[i]);
}

}  // namespace
}  // namespace tessera
