// Golden LoRA tests of the CUDA engine: the fixture PEFT adapters loaded into KV blocks (unified
// paging) against Hugging Face transformers + PEFT on tiny-llama, within twice each case's bf16
// deviation (as the issue asks of a bf16 engine). Teacher forcing feeds whole sequences in one
// step (the segmented SGMV kernels); greedy decoding runs one token per sequence per step (the
// gathered BGMV kernels), eagerly and from CUDA graphs. One batch mixes the base model and all
// three adapters; base-model rows are left bit-for-bit alone; slots are refilled and emptied
// between steps; bad slots and block lists are refused.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "adapters/peft_loader.h"
#include "engine/cuda/cuda_engine.h"
#include "tests/engine/cpu/golden_reference.h"
#include "tests/engine/cpu/lora_lanes.h"
#include "tests/engine/cuda/gpu_test_util.h"

namespace tessera {
namespace {

const std::string kFixtures = ::tessera::testing::FixturesDir();  // env overrides
const std::string kModelDir = kFixtures + "/models/tiny-llama";
const std::vector<std::string> kAdapters = {"tiny-llama-r8-all", "tiny-llama-r16-attn",
                                            "tiny-llama-r4-mlp"};
constexpr int32_t kNumBlocks = 2048;

std::vector<GoldenCase> Reference(const std::string& adapter) {
  return LoadGoldenCases(kFixtures + "/refs/tiny-llama" + (adapter.empty() ? "" : "+" + adapter) +
                         ".public.json");
}

CudaEngineOptions LoraEngineOptions(bool graphs = false) {
  CudaEngineOptions o;
  o.num_kv_blocks = kNumBlocks;  // the fixtures are tiny; leave the card alone
  o.max_num_tokens = 2048;
  o.max_loras = 6;
  o.max_lora_rank = 16;
  o.cuda_graphs = graphs;
  return o;
}

double Bound(const Lane& lane) { return 2 * lane.ref->bf16_max_abs_logprob_dev; }

class CudaLoraGoldenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TESSERA_SKIP_WITHOUT_GPU();
    for (const std::string& a : kAdapters) {
      if (!std::filesystem::exists(kFixtures + "/adapters/" + a)) {
        GTEST_SKIP() << "fixtures not found at " << kFixtures;
      }
    }
    engine_ = MakeEngine(false);
    ASSERT_NE(engine_, nullptr);
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

  static std::unique_ptr<CudaEngine> MakeEngine(bool graphs) {
    auto engine = CudaEngine::Load(kModelDir, LoraEngineOptions(graphs));
    EXPECT_TRUE(engine.ok()) << engine.status();
    return engine.ok() ? *std::move(engine) : nullptr;
  }

  // Puts adapter `a` in `slot` of `engine`, in blocks counted down from the top of the pool
  // (the lanes' KV blocks count up from 0).
  void Put(CudaEngine& engine, int32_t slot, size_t a) { PutWeights(engine, slot, adapters_[a]); }
  void PutWeights(CudaEngine& engine, int32_t slot, std::shared_ptr<const LoraWeights> weights) {
    absl::StatusOr<int32_t> need = engine.AdapterKvBlocks(*weights);
    ASSERT_TRUE(need.ok()) << need.status();
    ASSERT_GT(*need, 0);
    std::vector<int32_t> blocks(*need);
    for (int32_t& b : blocks) b = --next_top_;
    ASSERT_TRUE(engine.SetAdapter(slot, std::move(weights), blocks).ok());
  }

  std::unique_ptr<CudaEngine> engine_;
  std::vector<GoldenCase> base_ref_;
  std::vector<std::shared_ptr<const LoraWeights>> adapters_;  // in kAdapters order
  std::vector<std::vector<GoldenCase>> refs_;
  int32_t next_top_ = kNumBlocks;
};

TEST_F(CudaLoraGoldenTest, EachAdapterMatchesPeftWithinTwiceTheBf16Deviation) {
  for (size_t a = 0; a < kAdapters.size(); ++a) {
    Put(*engine_, 3, a);
    std::vector<Lane> lanes;
    for (size_t i = 0; i < refs_[a].size(); ++i) {
      lanes.push_back({&refs_[a][i], 3, kAdapters[a] + " case " + std::to_string(i)});
    }
    const std::vector<SequenceOutput> tf = TeacherForce(*engine_, lanes);
    ASSERT_EQ(tf.size(), lanes.size());
    for (size_t i = 0; i < lanes.size(); ++i) {
      ExpectMatchesTeacherForced(tf[i], lanes[i], Bound(lanes[i]));
    }
    const std::vector<std::vector<int32_t>> greedy = Greedy(*engine_, lanes);
    for (size_t i = 0; i < lanes.size(); ++i) {
      ExpectMatchesGreedy(greedy[i], lanes[i], Bound(lanes[i]));
    }
  }
}

TEST_F(CudaLoraGoldenTest, OneBatchMixingBaseAndAllAdaptersGivesEachItsOwnReference) {
  const std::vector<int32_t> slots = {5, 0, 2};
  for (size_t a = 0; a < kAdapters.size(); ++a) Put(*engine_, slots[a], a);
  std::vector<Lane> lanes;
  for (size_t i = 0; i < base_ref_.size(); ++i) {
    lanes.push_back({&base_ref_[i], -1, "base case " + std::to_string(i)});
    for (size_t a = 0; a < kAdapters.size(); ++a) {
      lanes.push_back({&refs_[a][i], slots[a], kAdapters[a] + " case " + std::to_string(i)});
    }
  }
  const std::vector<SequenceOutput> tf = TeacherForce(*engine_, lanes);
  ASSERT_EQ(tf.size(), lanes.size());
  for (size_t i = 0; i < lanes.size(); ++i) {
    ExpectMatchesTeacherForced(tf[i], lanes[i], Bound(lanes[i]));
  }
  const std::vector<std::vector<int32_t>> greedy = Greedy(*engine_, lanes);
  for (size_t i = 0; i < lanes.size(); ++i) {
    ExpectMatchesGreedy(greedy[i], lanes[i], Bound(lanes[i]));
  }
}

// Decode steps replayed from CUDA graphs (captured with the LoRA kernels) pick the same tokens as
// eager steps, for a mix of base and adapter lanes, including after a slot is refilled between
// replays of the same graph.
TEST_F(CudaLoraGoldenTest, GraphDecodingWithAdaptersMatchesEager) {
  std::unique_ptr<CudaEngine> graphs = MakeEngine(true);
  ASSERT_NE(graphs, nullptr);
  std::vector<Lane> lanes;
  for (size_t i = 0; i < base_ref_.size(); ++i) {
    lanes.push_back({&base_ref_[i], -1, "base case " + std::to_string(i)});
    lanes.push_back({&refs_[i % 3][i], 1, kAdapters[i % 3] + " case " + std::to_string(i)});
  }
  for (size_t round = 0; round < kAdapters.size(); ++round) {
    // Slot 1 holds adapter `round`; the lanes using it follow its reference.
    Put(*engine_, 1, round);
    Put(*graphs, 1, round);
    for (size_t i = 0; i < base_ref_.size(); ++i) lanes[2 * i + 1].ref = &refs_[round][i];
    const std::vector<std::vector<int32_t>> eager = Greedy(*engine_, lanes);
    const std::vector<std::vector<int32_t>> replayed = Greedy(*graphs, lanes);
    ASSERT_EQ(eager.size(), replayed.size());
    for (size_t i = 0; i < lanes.size(); ++i) {
      ExpectMatchesGreedy(replayed[i], lanes[i], Bound(lanes[i]));
      EXPECT_EQ(replayed[i], eager[i]) << lanes[i].name << " round " << round;
    }
  }
}

// Base-model rows come out bit-for-bit the same whether every slot is empty or full and
// adapter rows run beside them in the same steps.
TEST_F(CudaLoraGoldenTest, BaseRowsAreUntouchedByAdapters) {
  std::vector<Lane> base;
  for (size_t i = 0; i < base_ref_.size(); ++i) {
    base.push_back({&base_ref_[i], -1, "base case " + std::to_string(i)});
  }
  const std::vector<SequenceOutput> alone = TeacherForce(*engine_, base);
  for (int32_t slot = 0; slot < engine_->num_adapter_slots(); ++slot) {
    Put(*engine_, slot, slot % adapters_.size());
  }
  const std::vector<SequenceOutput> with_slots = TeacherForce(*engine_, base);
  ASSERT_EQ(alone.size(), base.size());
  ASSERT_EQ(with_slots.size(), base.size());
  for (size_t i = 0; i < base.size(); ++i) {
    ExpectMatchesTeacherForced(alone[i], base[i], Bound(base[i]));
    for (size_t t = 0; t + 1 < alone[i].prompt_logprobs.size(); ++t) {
      ASSERT_EQ(with_slots[i].prompt_logprobs[t]->chosen.logprob,
                alone[i].prompt_logprobs[t]->chosen.logprob)
          << i << " " << t;
    }
  }
}

// Emptying a slot gives its blocks back: a sequence whose KV then lives in them is computed
// correctly, and a plan naming the emptied slot is refused.
TEST_F(CudaLoraGoldenTest, EmptiedSlotIsRefusedAndItsBlocksServeAsKv) {
  absl::StatusOr<int32_t> need = engine_->AdapterKvBlocks(*adapters_[0]);
  ASSERT_TRUE(need.ok()) << need.status();
  std::vector<int32_t> blocks(*need);
  std::iota(blocks.begin(), blocks.end(), 0);  // the blocks the lanes' KV will use next
  ASSERT_TRUE(engine_->SetAdapter(2, adapters_[0], blocks).ok());
  std::vector<Lane> adapted = {{&refs_[0][0], 2, "adapter case 0"}};
  std::vector<Lane> base = {{&base_ref_[1], -1, "base case 1"}};
  std::vector<SequenceOutput> tf = TeacherForce(*engine_, adapted, /*first_block=*/1000);
  ASSERT_EQ(tf.size(), 1u);
  ExpectMatchesTeacherForced(tf[0], adapted[0], Bound(adapted[0]));
  ASSERT_TRUE(engine_->SetAdapter(2, nullptr, {}).ok());
  // Refused, nothing run.
  StepPlan plan;
  StepSequence seq;
  seq.adapter_slot = 2;
  plan.AddSequence({1, 2, 3}, {0}, engine_->kv_geometry().block_size, std::move(seq));
  absl::StatusOr<StepResult> refused = engine_->Step(plan);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("slot 2 is empty"), std::string::npos);
  tf = TeacherForce(*engine_, base);
  ASSERT_EQ(tf.size(), 1u);
  ExpectMatchesTeacherForced(tf[0], base[0], Bound(base[0]));
}

// An adapter whose lora_B entries are +-1e20 (refused by the PEFT loader) overflows the model:
// its sequences are flagged (SequenceOutput::logits_non_finite) on prompt log-probability rows,
// GPU-sampled and host-sampled rows, in eager and graph-replayed steps, while the base-model and
// healthy-adapter sequences of the same steps get exactly the outputs they get without it.
TEST_F(CudaLoraGoldenTest, NonFiniteLogitsAreFlaggedPerSequence) {
  auto poisoned = std::make_shared<LoraWeights>(*adapters_[2]);  // r4-mlp: gate, up, down
  for (auto& layer : poisoned->layers) {
    for (LoraPair& p : layer) {
      for (size_t i = 0; i < p.b.size(); ++i) p.b[i] = (i / p.rank) % 2 == 0 ? 1e20f : -1e20f;
    }
  }
  const std::vector<Lane> tf_lanes = {
      {&base_ref_[0], -1, "base"}, {&refs_[2][0], 1, "poisoned"}, {&refs_[0][0], 0, "r8"}};
  Put(*engine_, 0, 0);
  PutWeights(*engine_, 1, poisoned);
  const std::vector<SequenceOutput> tf = TeacherForce(*engine_, tf_lanes);
  ASSERT_EQ(tf.size(), 3u);
  EXPECT_FALSE(tf[0].logits_non_finite);
  EXPECT_TRUE(tf[1].logits_non_finite);
  EXPECT_FALSE(tf[2].logits_non_finite);
  const std::vector<SequenceOutput> clean =
      TeacherForce(*engine_, {tf_lanes[0], {&refs_[2][0], -1, "was poisoned"}, tf_lanes[2]});
  for (size_t i : {0, 2}) {
    ASSERT_EQ(tf[i].prompt_logprobs.size(), clean[i].prompt_logprobs.size());
    for (size_t t = 0; t + 1 < tf[i].prompt_logprobs.size(); ++t) {
      EXPECT_EQ(tf[i].prompt_logprobs[t]->chosen.logprob,
                clean[i].prompt_logprobs[t]->chosen.logprob)
          << tf_lanes[i].name << " " << t;
    }
  }

  // A prefill step, then a decode step, each sampling: greedy on the GPU, and top-k on the host.
  const int32_t bs = engine_->kv_geometry().block_size;
  auto steps = [&](CudaEngine& engine, const std::vector<int32_t>& slots) {
    std::vector<std::vector<bool>> flags;
    std::vector<int32_t> tokens;
    for (int step = 0; step < 2; ++step) {
      StepPlan plan;
      for (size_t i = 0; i < slots.size(); ++i) {
        StepSequence seq;
        seq.sample = true;
        seq.sample_index = step;
        if (i == 3) {
          seq.sampling.temperature = 1.0f;
          seq.sampling.top_k = 5;
          seq.sampling.seed = 3;
        }
        seq.adapter_slot = slots[i];
        const std::vector<int32_t> prompt = {1, static_cast<int32_t>(100 + 7 * i), 3000, 42};
        if (step == 0) {
          plan.AddSequence(prompt, {static_cast<int32_t>(i)}, bs, std::move(seq));
        } else {
          seq.num_cached_tokens = static_cast<int64_t>(prompt.size());
          seq.sample_index = 1;
          plan.AddSequence({std::max(tokens[i], 0)}, {static_cast<int32_t>(i)}, bs, std::move(seq));
        }
      }
      absl::StatusOr<StepResult> r = engine.Step(plan);
      EXPECT_TRUE(r.ok()) << r.status();
      if (!r.ok()) return std::pair{flags, tokens};
      tokens.clear();
      flags.emplace_back();
      for (const SequenceOutput& out : r->seqs) {
        flags.back().push_back(out.logits_non_finite);
        tokens.push_back(out.sampled_token);
      }
    }
    return std::pair{flags, tokens};
  };
  for (bool graphs : {false, true}) {
    SCOPED_TRACE(graphs ? "graphs" : "eager");
    std::unique_ptr<CudaEngine> engine = MakeEngine(graphs);
    ASSERT_NE(engine, nullptr);
    Put(*engine, 0, 0);
    PutWeights(*engine, 1, poisoned);
    const auto [flags, tokens] = steps(*engine, {-1, 1, 0, 1});
    ASSERT_EQ(flags.size(), 2u);
    for (const std::vector<bool>& f : flags)
      EXPECT_EQ(f, (std::vector<bool>{false, true, false, true}));
    const auto [clean_flags, clean_tokens] = steps(*engine, {-1, -1, 0, -1});
    ASSERT_EQ(clean_tokens.size(), 4u);
    EXPECT_EQ(tokens[0], clean_tokens[0]);
    EXPECT_EQ(tokens[2], clean_tokens[2]);
    for (const std::vector<bool>& f : clean_flags) {
      EXPECT_EQ(f, (std::vector<bool>{false, false, false, false}));
    }
  }
}

TEST_F(CudaLoraGoldenTest, RefusesBadSlotsAndBlockLists) {
  absl::StatusOr<int32_t> need = engine_->AdapterKvBlocks(*adapters_[1]);
  ASSERT_TRUE(need.ok()) << need.status();
  std::vector<int32_t> blocks(*need);
  std::iota(blocks.begin(), blocks.end(), 100);
  EXPECT_EQ(engine_->num_adapter_slots(), 6);
  // The pool's own empty slot (6) is not the caller's.
  EXPECT_EQ(engine_->SetAdapter(6, adapters_[1], blocks).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(engine_->SetAdapter(-1, adapters_[1], blocks).code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<int32_t> short_list(blocks.begin(), blocks.end() - 1);
  absl::Status s = engine_->SetAdapter(0, adapters_[1], short_list);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("needs " + std::to_string(*need)), std::string::npos) << s;
  std::vector<int32_t> outside = blocks;
  outside.back() = kNumBlocks;
  EXPECT_EQ(engine_->SetAdapter(0, adapters_[1], outside).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(engine_->SetAdapter(0, nullptr, blocks).code(), absl::StatusCode::kInvalidArgument);

  // Rank over the engine's maximum (16): refused with the numbers.
  CudaEngineOptions small = LoraEngineOptions();
  small.max_lora_rank = 8;
  auto low = CudaEngine::Load(kModelDir, small);
  ASSERT_TRUE(low.ok()) << low.status();
  absl::StatusOr<int32_t> too_big = (*low)->AdapterKvBlocks(*adapters_[1]);  // rank 16
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(too_big.status().message().find("rank 16"), std::string::npos) << too_big.status();

  // An engine without slots.
  CudaEngineOptions none = LoraEngineOptions();
  none.max_loras = 0;
  auto plain = CudaEngine::Load(kModelDir, none);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ((*plain)->num_adapter_slots(), 0);
  EXPECT_EQ((*plain)->AdapterKvBlocks(*adapters_[0]).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*plain)->SetAdapter(0, adapters_[0], blocks).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tessera
