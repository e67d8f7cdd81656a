// CpuEngine's adapter slots on a small random model (no fixtures): an adapter in a slot gives the
// same logits as the base weights merged with scale * B A, projection by projection; base-model
// sequences are untouched bit for bit; bad slots are refused before anything changes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <utility>
#include <vector>

#include "engine/cpu/cpu_engine.h"
#include "engine/lora_weights.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

ModelConfig SmallConfig() {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.vocab_size = 96;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 12;  // q_size 48 != hidden: o_proj's in_features differ from its out_features
  c.rms_norm_eps = 1e-5;
  c.max_position_embeddings = 256;
  c.layer_sliding_window.assign(2, 0);
  return c;
}

// Random non-zero A and B for the projections in `modules`, every layer.
std::shared_ptr<LoraWeights> RandomLora(const ModelConfig& c, int32_t rank,
                                        const std::vector<LoraModule>& modules, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.05f, 0.3f);
  auto draw = [&](int64_t n) {
    std::vector<float> v(n);
    for (float& x : v) x = (rng() & 1 ? 1 : -1) * u(rng);
    return v;
  };
  auto w = std::make_shared<LoraWeights>();
  w->layers.resize(c.num_hidden_layers);
  for (auto& layer : w->layers) {
    for (LoraModule m : modules) {
      LoraPair& p = layer[static_cast<int>(m)];
      p.rank = rank;
      p.scale = 1.5f;
      p.in_features = LoraModuleInFeatures(c, m);
      p.out_features = LoraModuleOutFeatures(c, m);
      p.a = draw(rank * p.in_features);
      p.b = draw(p.out_features * rank);
    }
  }
  return w;
}

CpuLinear& Projection(CpuLayerWeights& w, LoraModule m) {
  switch (m) {
    case LoraModule::kQ:
      return w.q;
    case LoraModule::kK:
      return w.k;
    case LoraModule::kV:
      return w.v;
    case LoraModule::kO:
      return w.o;
    case LoraModule::kGate:
      return w.gate;
    case LoraModule::kUp:
      return w.up;
    case LoraModule::kDown:
      return w.down;
  }
  return w.q;
}

// W + scale * B A for every adapted projection, in double.
CpuWeights Merge(CpuWeights w, const LoraWeights& lora) {
  for (size_t l = 0; l < w.layers.size(); ++l) {
    for (int i = 0; i < kNumLoraModules; ++i) {
      const LoraPair* p = lora.Find(static_cast<int64_t>(l), static_cast<LoraModule>(i));
      if (p == nullptr) continue;
      CpuLinear& lin = Projection(w.layers[l], static_cast<LoraModule>(i));
      for (int64_t o = 0; o < lin.rows; ++o) {
        for (int64_t k = 0; k < lin.cols; ++k) {
          double d = 0;
          for (int32_t r = 0; r < p->rank; ++r) {
            d += double{p->b[o * p->rank + r]} * p->a[r * lin.cols + k];
          }
          lin.weight[o * lin.cols + k] += static_cast<float>(p->scale * d);
        }
      }
    }
  }
  return w;
}

std::unique_ptr<CpuEngine> MakeEngine(CpuWeights weights, int32_t max_loras = 8) {
  CpuEngineOptions o;
  o.num_kv_blocks = 64;
  o.max_loras = max_loras;
  auto e = CpuEngine::Create(SmallConfig(), std::move(weights), o);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? *std::move(e) : nullptr;
}

const std::vector<int32_t> kPromptA = {1, 7, 33, 90, 4, 4, 61, 12, 8, 27, 50};
const std::vector<int32_t> kPromptB = {1, 95, 3, 14, 15, 92, 65};

// Two sequences in one step, with the given slots; the last logits of each.
std::vector<std::vector<float>> LastLogits(CpuEngine& e, int32_t slot_a, int32_t slot_b) {
  StepPlan plan;
  StepSequence a, b;
  a.return_last_logits = b.return_last_logits = true;
  a.adapter_slot = slot_a;
  b.adapter_slot = slot_b;
  plan.AddSequence(kPromptA, {0}, kDefaultBlockSize, a);
  plan.AddSequence(kPromptB, {1}, kDefaultBlockSize, b);
  absl::StatusOr<StepResult> r = e.Step(plan);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return {};
  return {r->seqs[0].last_logits, r->seqs[1].last_logits};
}

void ExpectClose(const std::vector<float>& got, const std::vector<float>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::abs(double{got[i]} - want[i]));
  EXPECT_LT(worst, tol);
}

TEST(LoraEngineTest, EachProjectionMatchesMergedWeights) {
  const ModelConfig c = SmallConfig();
  const CpuWeights base = CpuWeights::Random(c, 3, 0.2f);
  std::vector<std::vector<LoraModule>> cases;
  for (int i = 0; i < kNumLoraModules; ++i) cases.push_back({static_cast<LoraModule>(i)});
  cases.push_back({LoraModule::kQ, LoraModule::kK, LoraModule::kV, LoraModule::kO,
                   LoraModule::kGate, LoraModule::kUp, LoraModule::kDown});
  auto plain = MakeEngine(base);
  const std::vector<std::vector<float>> base_logits = LastLogits(*plain, -1, -1);
  for (const auto& modules : cases) {
    SCOPED_TRACE(LoraModuleName(modules[0]));
    const auto lora = RandomLora(c, 4, modules, 17 + static_cast<uint32_t>(modules.size()));
    auto engine = MakeEngine(base);
    ASSERT_TRUE(engine->SetAdapter(5, lora, {}).ok());
    auto merged = MakeEngine(Merge(base, *lora));
    const std::vector<std::vector<float>> got = LastLogits(*engine, 5, -1);
    const std::vector<std::vector<float>> want = LastLogits(*merged, -1, -1);
    ASSERT_EQ(got.size(), 2u);
    ExpectClose(got[0], want[0], 2e-4);
    // The adapter really moves the logits (a wiring that skips it would fail here).
    double moved = 0;
    for (size_t i = 0; i < got[0].size(); ++i) {
      moved = std::max(moved, std::abs(double{got[0][i]} - base_logits[0][i]));
    }
    EXPECT_GT(moved, 1e-2);
    // The base-model sequence of the same step is bit-identical to a run without adapters.
    EXPECT_EQ(got[1], base_logits[1]);
  }
}

TEST(LoraEngineTest, SlotsDefaultToEightAndSetAdapterChecksSlotAndShapes) {
  const ModelConfig c = SmallConfig();
  auto engine = MakeEngine(CpuWeights::Random(c, 1));
  EXPECT_EQ(engine->num_adapter_slots(), 8);
  const auto lora = RandomLora(c, 2, {LoraModule::kQ}, 1);
  EXPECT_TRUE(engine->SetAdapter(0, lora, {}).ok());
  EXPECT_TRUE(engine->SetAdapter(7, lora, {}).ok());
  EXPECT_THAT(engine->SetAdapter(8, lora, {}).message(), HasSubstr("outside [0, 8)"));
  EXPECT_EQ(engine->SetAdapter(-1, lora, {}).code(), absl::StatusCode::kInvalidArgument);
  auto wrong = std::make_shared<LoraWeights>(*lora);
  wrong->layers.pop_back();
  EXPECT_EQ(engine->SetAdapter(1, wrong, {}).code(), absl::StatusCode::kInvalidArgument);
  auto wrong_shape = std::make_shared<LoraWeights>(*lora);
  wrong_shape->layers[1][0].in_features = 7;
  EXPECT_THAT(engine->SetAdapter(1, wrong_shape, {}).message(), HasSubstr("layer 1 q_proj"));
  EXPECT_TRUE(engine->SetAdapter(0, nullptr, {}).ok());

  EXPECT_EQ(MakeEngine(CpuWeights::Random(c, 1), 0)->num_adapter_slots(), 0);
  CpuEngineOptions bad;
  bad.max_loras = -1;
  EXPECT_FALSE(CpuEngine::Create(c, CpuWeights::Random(c, 1), bad).ok());
}

TEST(LoraEngineTest, StepRefusesEmptyOrOutOfRangeSlotsAndChangesNothing) {
  const ModelConfig c = SmallConfig();
  auto engine = MakeEngine(CpuWeights::Random(c, 1));
  ASSERT_TRUE(engine->SetAdapter(2, RandomLora(c, 2, {LoraModule::kV}, 4), {}).ok());
  // Blocks 0 and 1 hold sequences' KV; a refused step must not overwrite block 0 nor copy block 1
  // into block 3.
  StepPlan first;
  first.AddSequence(kPromptA, {0}, kDefaultBlockSize, StepSequence{});
  first.AddSequence(kPromptB, {1}, kDefaultBlockSize, StepSequence{});
  ASSERT_TRUE(engine->Step(first).ok());
  auto snapshot = [&] {
    std::vector<float> kv;
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
      for (int32_t block : {0, 3}) {
        for (int32_t kvi = 0; kvi < 2; ++kvi) {
          const float* p = engine->kv_cache().Slot(l, block, kvi, 0);
          kv.insert(kv.end(), p, p + kDefaultBlockSize * c.kv_size());
        }
      }
    }
    return kv;
  };
  const std::vector<float> before = snapshot();
  for (const auto& [slot, message] :
       std::vector<std::pair<int32_t, std::string>>{{5, "adapter slot 5 is empty"},
                                                    {8, "adapter slot 8 outside [0, 8)"},
                                                    {-2, "adapter slot -2"}}) {
    StepPlan plan;
    plan.block_copies.push_back({1, 3});
    StepSequence ok, bad;
    ok.adapter_slot = 2;
    bad.adapter_slot = slot;
    bad.num_cached_tokens = static_cast<int64_t>(kPromptA.size());
    plan.AddSequence(kPromptB, {1}, kDefaultBlockSize, ok);
    plan.AddSequence({5, 6}, {0}, kDefaultBlockSize, bad);
    absl::StatusOr<StepResult> r = engine->Step(plan);
    ASSERT_FALSE(r.ok()) << slot;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr("sequence 1"));
    EXPECT_THAT(r.status().message(), HasSubstr(message));
    EXPECT_EQ(snapshot(), before) << slot;
  }
  // Emptying a slot makes it refused too.
  ASSERT_TRUE(engine->SetAdapter(2, nullptr, {}).ok());
  StepPlan plan;
  StepSequence s;
  s.adapter_slot = 2;
  plan.AddSequence(kPromptB, {1}, kDefaultBlockSize, s);
  EXPECT_THAT(engine->Step(plan).status().message(), HasSubstr("adapter slot 2 is empty"));
}

// An adapter whose B entries are +-1e20 (the PEFT loader refuses these; the engine must still
// report what they do): its sequence's logits are flagged, sampled and prompt log-probability
// rows alike, while the other sequences of the same step are untouched bit for bit.
TEST(LoraEngineTest, NonFiniteLogitsAreReportedPerSequence) {
  const ModelConfig c = SmallConfig();
  const CpuWeights base = CpuWeights::Random(c, 3, 0.2f);
  auto poisoned = std::make_shared<LoraWeights>(
      *RandomLora(c, 2, {LoraModule::kGate, LoraModule::kUp, LoraModule::kDown}, 9));
  for (auto& layer : poisoned->layers) {
    for (LoraPair& p : layer) {
      // Alternating by output row, so that some gate entries are huge and positive whatever the
      // sign of A x (a huge negative gate alone would be silenced by SiLU).
      for (size_t i = 0; i < p.b.size(); ++i) p.b[i] = (i / p.rank) % 2 == 0 ? 1e20f : -1e20f;
    }
  }
  const auto healthy = RandomLora(c, 4, {LoraModule::kQ, LoraModule::kV}, 5);
  auto engine = MakeEngine(base);
  ASSERT_TRUE(engine->SetAdapter(0, poisoned, {}).ok());
  ASSERT_TRUE(engine->SetAdapter(1, healthy, {}).ok());
  auto clean = MakeEngine(base);
  ASSERT_TRUE(clean->SetAdapter(1, healthy, {}).ok());

  // Sequence 0 samples (greedy, with log-probabilities), sequence 1 asks for prompt
  // log-probabilities only; each runs the poisoned adapter, a healthy one or the base model.
  auto run = [&](CpuEngine& e, int32_t slot_a, int32_t slot_b) {
    StepPlan plan;
    StepSequence a, b;
    a.sample = true;
    a.sampling.num_logprobs = 2;
    a.return_last_logits = true;
    a.adapter_slot = slot_a;
    b.prompt_targets.assign(kPromptB.begin() + 1, kPromptB.end());
    b.prompt_targets.push_back(-1);
    b.return_last_logits = true;
    b.adapter_slot = slot_b;
    plan.AddSequence(kPromptA, {0}, kDefaultBlockSize, a);
    plan.AddSequence(kPromptB, {1}, kDefaultBlockSize, b);
    absl::StatusOr<StepResult> r = e.Step(plan);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *std::move(r) : StepResult{};
  };
  for (const auto& [slot_a, slot_b] :
       std::vector<std::pair<int32_t, int32_t>>{{0, -1}, {0, 1}, {-1, 0}, {1, 0}}) {
    SCOPED_TRACE(::testing::Message() << "slots " << slot_a << ", " << slot_b);
    const StepResult got = run(*engine, slot_a, slot_b);
    // The same step with the poisoned sequence on the base model instead.
    const StepResult want = run(*clean, slot_a == 0 ? -1 : slot_a, slot_b == 0 ? -1 : slot_b);
    ASSERT_EQ(got.seqs.size(), 2u);
    const int poisoned_seq = slot_a == 0 ? 0 : 1;
    const int other = 1 - poisoned_seq;
    EXPECT_TRUE(got.seqs[poisoned_seq].logits_non_finite);
    const std::vector<float>& bad = got.seqs[poisoned_seq].last_logits;
    EXPECT_FALSE(std::all_of(bad.begin(), bad.end(), [](float x) { return std::isfinite(x); }));
    EXPECT_FALSE(got.seqs[other].logits_non_finite);
    EXPECT_FALSE(want.seqs[0].logits_non_finite);
    EXPECT_FALSE(want.seqs[1].logits_non_finite);
    EXPECT_EQ(got.seqs[other].last_logits, want.seqs[other].last_logits);
    EXPECT_EQ(got.seqs[other].sampled_token, want.seqs[other].sampled_token);
  }
}

}  // namespace
}  // namespace tessera
