// The fake engine must catch the KV mistakes it exists for (else the property tests built on it
// prove nothing): reads of unwritten or foreign KV, a sample reading a sibling's tokens after a
// missing copy-on-write. And its output must not depend on how a prompt is chunked.
#include "tests/scheduler/fake_engine.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tessera {
namespace {

using ::tessera::testing::FakeEngine;
using ::tessera::testing::FakeEngineOptions;

constexpr int32_t kBlockSize = 4;

FakeEngineOptions Options() {
  FakeEngineOptions o;
  o.vocab_size = 1000;
  o.eos_probability = 0;
  o.geometry = {/*num_blocks=*/8, kBlockSize};
  return o;
}

// One sequence feeding `tokens` after `cached` cached ones.
StepPlan Feed(const std::vector<int32_t>& tokens, const std::vector<int32_t>& blocks,
              int64_t cached, bool sample, int64_t sample_index = 0, uint64_t seed = 0) {
  StepPlan plan;
  StepSequence s;
  s.num_cached_tokens = cached;
  s.sample = sample;
  s.sample_index = sample_index;
  s.sampling.temperature = seed == 0 ? 0.0f : 1.0f;
  s.sampling.seed = seed;
  plan.AddSequence(tokens, blocks, kBlockSize, s);
  return plan;
}

int32_t Expected(const FakeEngine& e, const std::vector<int32_t>& prefix, uint64_t seed = 0) {
  uint64_t fp = FakeEngine::kEmptyPrefix;
  for (size_t i = 0; i < prefix.size(); ++i) fp = FakeEngine::Extend(fp, prefix[i], i);
  SamplingParams s;
  s.temperature = seed == 0 ? 0.0f : 1.0f;
  s.seed = seed;
  return e.NextToken(fp, s);
}

TEST(FakeEngineTest, OutputIsAPureFunctionOfThePrefix) {
  const std::vector<int32_t> prompt = {5, 6, 7, 8, 9, 10};
  FakeEngine whole(Options()), chunked(Options());
  auto a = whole.Step(Feed(prompt, {0, 1}, 0, true));
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(chunked.Step(Feed({5, 6, 7}, {3, 2}, 0, false)).ok());
  auto b = chunked.Step(Feed({8, 9, 10}, {3, 2}, 3, true));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->seqs[0].sampled_token, b->seqs[0].sampled_token);
  EXPECT_EQ(a->seqs[0].sampled_token, Expected(whole, prompt));
  EXPECT_EQ(chunked.plans().size(), 2u);
  EXPECT_EQ(chunked.plans()[1].num_cached[0], 3);
}

TEST(FakeEngineTest, ReadingUnwrittenKvFails) {
  FakeEngine e(Options());
  auto r = e.Step(Feed({5}, {0}, 2, true));
  EXPECT_NE(r.status().message().find("never written"), std::string::npos) << r.status();
}

TEST(FakeEngineTest, ReadingAnotherSequencesKvFails) {
  FakeEngine e(Options());
  ASSERT_TRUE(e.Step(Feed({1, 2, 3, 4, 5, 6, 7, 8}, {0, 1}, 0, false)).ok());
  ASSERT_TRUE(e.Step(Feed({9, 9, 9, 9}, {2}, 0, false)).ok());
  // Block 1 holds positions 4..7 of the first sequence, not a continuation of block 2.
  auto r = e.Step(Feed({3}, {2, 1, 3}, 8, false));
  EXPECT_NE(r.status().message().find("another prefix"), std::string::npos) << r.status();
}

TEST(FakeEngineTest, SampleReadingASiblingsTokenFailsUnlessTheBlockWasCopied) {
  // Two samples (seeds 11 and 22) of the prompt {1, 2, 3} share block 0, which holds positions
  // 0..3; each decodes its first token into position 3.
  for (bool copied : {false, true}) {
    FakeEngine e(Options());
    ASSERT_TRUE(e.Step(Feed({1, 2}, {0}, 0, false)).ok());
    const int32_t a0 = Expected(e, {1, 2, 3}, 11);
    const int32_t b0 = Expected(e, {1, 2, 3}, 22);
    ASSERT_NE(a0, b0);
    ASSERT_TRUE(e.Step(Feed({3}, {0}, 2, true, 0, 11)).ok());
    ASSERT_TRUE(e.Step(Feed({3}, {0}, 2, true, 0, 22)).ok());
    ASSERT_TRUE(e.Step(Feed({a0}, {0}, 3, true, 1, 11)).ok());
    // Sample b writes position 3 into a copy of block 0, or (the bug) over a's token in it.
    StepPlan b = Feed({b0}, {copied ? 1 : 0}, 3, true, 1, 22);
    if (copied) b.block_copies.push_back({0, 1});
    ASSERT_TRUE(e.Step(b).ok());
    auto r = e.Step(Feed({Expected(e, {1, 2, 3, a0}, 11)}, {0, 2}, 4, true, 2, 11));
    if (copied) {
      EXPECT_TRUE(r.ok()) << r.status();
    } else {
      EXPECT_NE(r.status().message().find("did not sample"), std::string::npos) << r.status();
    }
  }
}

TEST(FakeEngineTest, InvalidPlansAreRefused) {
  FakeEngine e(Options());
  auto r = e.Step(Feed({5, 2000}, {0}, 0, true));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(e.plans().empty());
}

}  // namespace
}  // namespace tessera
