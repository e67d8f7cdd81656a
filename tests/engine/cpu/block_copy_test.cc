// Copy-on-write of KV blocks on the CPU engine: the scheduler forks a sample off a prompt by
// copying the prompt's shared, partially filled last block into a fresh one. The forked sequence
// must compute exactly what the original would, and the original's block must stay as it was.
// A small random-weight model (no fixtures); the CPU engine is deterministic, so comparisons are
// exact.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "engine/cpu/cpu_engine.h"
#include "engine/cpu/cpu_kv_cache.h"

namespace tessera {
namespace {

constexpr int32_t kBlockSize = 4;
constexpr int32_t kNumBlocks = 8;
// Six tokens: block a full, block b holding two of its four slots.
const std::vector<int32_t> kPrompt = {5, 17, 42, 8, 91, 33};
constexpr int32_t kA = 0, kB = 1, kC = 2;

ModelConfig TinyConfig() {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.vocab_size = 97;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.rms_norm_eps = 1e-5;
  c.max_position_embeddings = 128;
  c.layer_sliding_window = {0, 0};
  return c;
}

std::unique_ptr<CpuEngine> MakeEngine() {
  CpuEngineOptions o;
  o.block_size = kBlockSize;
  o.num_kv_blocks = kNumBlocks;
  o.num_threads = 2;
  auto e = CpuEngine::Create(TinyConfig(), CpuWeights::Random(TinyConfig(), 42, 0.3f), o);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? *std::move(e) : nullptr;
}

// A sequence with `cached` tokens in the cache; greedy sample and the last logits come back.
StepSequence Feed(int64_t cached) {
  StepSequence s;
  s.num_cached_tokens = cached;
  s.sample = true;
  s.return_last_logits = true;
  return s;
}

SequenceOutput RunOne(CpuEngine& engine, const std::vector<int32_t>& tokens,
                      const std::vector<int32_t>& blocks, int64_t cached,
                      std::vector<BlockCopy> copies = {}) {
  StepPlan plan;
  plan.AddSequence(tokens, blocks, kBlockSize, Feed(cached));
  plan.block_copies = std::move(copies);
  absl::StatusOr<StepResult> r = engine.Step(plan);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok() || r->seqs.size() != 1) return {};
  return r->seqs[0];
}

// Every layer's K and V of the first `slots` slots of one block, as stored (the rest were never
// written: their values are indeterminate).
std::vector<float> BlockContents(const CpuEngine& engine, int32_t block, int32_t slots) {
  const ModelConfig& c = engine.config();
  const int64_t slot_floats = c.num_key_value_heads * c.head_dim;
  std::vector<float> out;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    for (int32_t kv = 0; kv < 2; ++kv) {
      for (int32_t slot = 0; slot < slots; ++slot) {
        const float* p = engine.kv_cache().Slot(l, block, kv, slot);
        out.insert(out.end(), p, p + slot_floats);
      }
    }
  }
  return out;
}

void ExpectSameOutput(const SequenceOutput& got, const SequenceOutput& want) {
  ASSERT_FALSE(want.last_logits.empty());
  EXPECT_EQ(got.sampled_token, want.sampled_token);
  EXPECT_EQ(got.last_logits, want.last_logits);  // bit-identical
}

// A value unique to each element of the cache.
float Pattern(int64_t layer, int32_t block, int32_t kv, int32_t slot, int64_t i) {
  return static_cast<float>(1000 * layer + 100 * block + 10 * kv + slot) +
         0.01f * static_cast<float>(i);
}

TEST(CpuKvCacheTest, CopyBlockCopiesEveryLayerAndNothingElse) {
  const int64_t layers = 3, heads = 2, dim = 4, slot_floats = heads * dim;
  const int32_t blocks = 5;
  CpuKvCache cache(layers, blocks, kBlockSize, heads, dim);
  for (int64_t l = 0; l < layers; ++l)
    for (int32_t b = 0; b < blocks; ++b)
      for (int32_t kv = 0; kv < 2; ++kv)
        for (int32_t s = 0; s < kBlockSize; ++s)
          for (int64_t i = 0; i < slot_floats; ++i)
            cache.Slot(l, b, kv, s)[i] = Pattern(l, b, kv, s, i);
  cache.CopyBlock(3, 1);
  for (int64_t l = 0; l < layers; ++l) {
    for (int32_t b = 0; b < blocks; ++b) {
      const int32_t from = b == 1 ? 3 : b;  // only block 1 changed, to block 3's contents
      for (int32_t kv = 0; kv < 2; ++kv) {
        for (int32_t s = 0; s < kBlockSize; ++s) {
          for (int64_t i = 0; i < slot_floats; ++i) {
            ASSERT_EQ(cache.Slot(l, b, kv, s)[i], Pattern(l, from, kv, s, i))
                << "layer " << l << " block " << b << " kv " << kv << " slot " << s;
          }
        }
      }
    }
  }
}

// The brief's scenario: prompt in [a, b], copy b -> c, decode a fork with table [a, c].
TEST(CpuBlockCopyTest, ForkedDecodeMatchesTheOriginalExactly) {
  std::unique_ptr<CpuEngine> engine = MakeEngine();
  ASSERT_NE(engine, nullptr);
  const SequenceOutput prefill = RunOne(*engine, kPrompt, {kA, kB}, 0);
  ASSERT_GE(prefill.sampled_token, 0);
  const int32_t next = prefill.sampled_token;
  const std::vector<float> b_before = BlockContents(*engine, kB, 2);

  const SequenceOutput fork = RunOne(*engine, {next}, {kA, kC}, 6, {{kB, kC}});
  // The copy left b alone, and the fork's write went to c, not b.
  EXPECT_EQ(BlockContents(*engine, kB, 2), b_before);
  const SequenceOutput original = RunOne(*engine, {next}, {kA, kB}, 6);
  ExpectSameOutput(fork, original);

  // And both equal a run that never forked.
  std::unique_ptr<CpuEngine> plain = MakeEngine();
  ASSERT_NE(plain, nullptr);
  RunOne(*plain, kPrompt, {kA, kB}, 0);
  ExpectSameOutput(original, RunOne(*plain, {next}, {kA, kB}, 6));
}

// The fork and the original then diverge (different tokens, batched together); each matches a
// run without sharing, so neither wrote into the other's block.
TEST(CpuBlockCopyTest, ForkAndOriginalDivergeIndependently) {
  std::unique_ptr<CpuEngine> engine = MakeEngine();
  std::unique_ptr<CpuEngine> plain = MakeEngine();
  ASSERT_NE(engine, nullptr);
  ASSERT_NE(plain, nullptr);
  const std::vector<int32_t> a_tokens = {11, 12}, c_tokens = {70, 71};

  // Without sharing: the original in [a, b], the other sample prefilled again into [3, 4].
  RunOne(*plain, kPrompt, {kA, kB}, 0);
  RunOne(*plain, kPrompt, {3, 4}, 0);
  std::vector<SequenceOutput> want_a, want_c;
  for (int i = 0; i < 2; ++i) {
    want_a.push_back(RunOne(*plain, {a_tokens[i]}, {kA, kB}, 6 + i));
    want_c.push_back(RunOne(*plain, {c_tokens[i]}, {3, 4}, 6 + i));
  }

  // Shared: one prefill; the fork copies b -> c and writes position 6 into c alone.
  RunOne(*engine, kPrompt, {kA, kB}, 0);
  ExpectSameOutput(RunOne(*engine, {c_tokens[0]}, {kA, kC}, 6, {{kB, kC}}), want_c[0]);
  // Then both in one step: the original writes position 6 into b, the fork position 7 into c.
  StepPlan both;
  both.AddSequence({a_tokens[0]}, {kA, kB}, kBlockSize, Feed(6));
  both.AddSequence({c_tokens[1]}, {kA, kC}, kBlockSize, Feed(7));
  absl::StatusOr<StepResult> r = engine->Step(both);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->seqs.size(), 2u);
  ExpectSameOutput(r->seqs[0], want_a[0]);
  ExpectSameOutput(r->seqs[1], want_c[1]);
  ExpectSameOutput(RunOne(*engine, {a_tokens[1]}, {kA, kB}, 7), want_a[1]);
}

// Copies alone, with no sequence: an empty result, and the copy is done for the next step.
TEST(CpuBlockCopyTest, CopyOnlyStepReturnsAnEmptyResult) {
  std::unique_ptr<CpuEngine> engine = MakeEngine();
  ASSERT_NE(engine, nullptr);
  const int32_t next = RunOne(*engine, kPrompt, {kA, kB}, 0).sampled_token;
  StepPlan copies;
  copies.block_copies = {{kB, kC}, {kB, 5}};
  absl::StatusOr<StepResult> r = engine->Step(copies);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->seqs.empty());
  EXPECT_EQ(BlockContents(*engine, kC, 2), BlockContents(*engine, kB, 2));
  EXPECT_EQ(BlockContents(*engine, 5, 2), BlockContents(*engine, kB, 2));

  const SequenceOutput fork = RunOne(*engine, {next}, {kA, kC}, 6);
  ExpectSameOutput(fork, RunOne(*engine, {next}, {kA, 5}, 6));
  ExpectSameOutput(fork, RunOne(*engine, {next}, {kA, kB}, 6));
}

// An invalid plan changes nothing: its copies are not made either.
TEST(CpuBlockCopyTest, InvalidPlanCopiesNothing) {
  std::unique_ptr<CpuEngine> engine = MakeEngine();
  ASSERT_NE(engine, nullptr);
  RunOne(*engine, kPrompt, {kA, kB}, 0);
  RunOne(*engine, {1, 2, 3}, {kC}, 0);
  const std::vector<float> c_before = BlockContents(*engine, kC, 3);
  StepPlan plan;
  plan.block_copies = {{kB, kC}, {kB, kB}};
  absl::StatusOr<StepResult> r = engine->Step(plan);
  EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
  EXPECT_EQ(BlockContents(*engine, kC, 3), c_before);
}

}  // namespace
}  // namespace tessera
