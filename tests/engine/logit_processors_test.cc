// Logit processors on small vectors whose processed values were worked out by hand (every value
// is exact in float, so the checks are exact).
#include "engine/logit_processors.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <vector>

namespace tessera {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> Process(std::vector<float> logits, const SamplingParams& p,
                           const SamplingHistory& h, LogitProcessorScratch* scratch) {
  ApplyLogitProcessors(p, h, absl::MakeSpan(logits), scratch);
  return logits;
}

std::vector<float> Process(const std::vector<float>& logits, const SamplingParams& p,
                           const SamplingHistory& h) {
  LogitProcessorScratch scratch;
  return Process(logits, p, h, &scratch);
}

const std::vector<float> kLogits = {2.0f, -1.0f, 0.5f, 3.0f, -2.0f, 0.0f, 1.0f};
const std::vector<int32_t> kPrompt = {0, 1, 1};
const std::vector<int32_t> kOutput = {3, 3, 4, 0};

TEST(LogitProcessorsTest, RepetitionPenaltyDividesPositiveAndMultipliesNegativeOnce) {
  SamplingParams p;
  p.repetition_penalty = 2.0f;
  // Seen: 0 (prompt and output), 1 (twice in the prompt), 3, 4. Zero stays zero (5 is unseen).
  const std::vector<float> want = {1.0f, -2.0f, 0.5f, 1.5f, -4.0f, 0.0f, 1.0f};
  EXPECT_EQ(Process(kLogits, p, {kPrompt, kOutput, {}}), want);
  // A zero logit of a seen token stays zero; penalties below 1 reward repetition.
  p.repetition_penalty = 0.5f;
  const std::vector<int32_t> seen_zero = {5, 0};
  EXPECT_EQ(Process(kLogits, p, {seen_zero, {}, {}}),
            (std::vector<float>{4.0f, -1.0f, 0.5f, 3.0f, -2.0f, 0.0f, 1.0f}));
}

TEST(LogitProcessorsTest, PresenceAndFrequencyPenaltiesCountTheOutputOnly) {
  SamplingParams p;
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.25f;
  // Output counts: 3 -> 2, 4 -> 1, 0 -> 1; the prompt's 1 is not penalized.
  const std::vector<float> want = {1.25f, -1.0f, 0.5f, 1.75f, -2.75f, 0.0f, 1.0f};
  EXPECT_EQ(Process(kLogits, p, {kPrompt, kOutput, {}}), want);
  // Negative penalties encourage.
  p.frequency_penalty = -1.0f;
  p.presence_penalty = -2.0f;
  EXPECT_EQ(Process(kLogits, p, {kPrompt, kOutput, {}}),
            (std::vector<float>{5.0f, -1.0f, 0.5f, 7.0f, 1.0f, 0.0f, 1.0f}));
}

TEST(LogitProcessorsTest, AllStepsInTheDocumentedOrder) {
  SamplingParams p;
  p.repetition_penalty = 2.0f;
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.25f;
  p.logit_bias = {{2, 1.5f}, {5, -0.5f}, {6, 100.0f}};
  const std::vector<int32_t> suppressed = {6};
  // Repetition: {1, -2, 0.5, 1.5, -4, 0, 1}; then 3: 1.5 - 1.25, 4: -4 - 0.75, 0: 1 - 0.75;
  // then the biases; a suppressed token stays banned whatever its bias.
  const std::vector<float> want = {0.25f, -2.0f, 2.0f, 0.25f, -4.75f, -0.5f, -kInf};
  EXPECT_EQ(Process(kLogits, p, {kPrompt, kOutput, suppressed}), want);
}

TEST(LogitProcessorsTest, BiasComesAfterTheRepetitionPenalty) {
  SamplingParams p;
  p.repetition_penalty = 2.0f;
  p.logit_bias = {{0, 1.0f}};
  const std::vector<int32_t> prompt = {0};
  // 2 / 2 + 1 (bias first would give (2 + 1) / 2 = 1.5).
  EXPECT_EQ(Process(kLogits, p, {prompt, {}, {}})[0], 2.0f);
}

TEST(LogitProcessorsTest, ScratchIsLeftCleanForTheNextCall) {
  SamplingParams p;
  p.repetition_penalty = 2.0f;
  p.frequency_penalty = 1.0f;
  LogitProcessorScratch scratch;
  const std::vector<float> first = Process(kLogits, p, {kPrompt, kOutput, {}}, &scratch);
  EXPECT_TRUE(std::all_of(scratch.seen.begin(), scratch.seen.end(), [](uint8_t x) { return !x; }));
  EXPECT_TRUE(std::all_of(scratch.counts.begin(), scratch.counts.end(), [](int x) { return !x; }));
  // Another history with the same scratch sees nothing of the first.
  const std::vector<int32_t> other = {6};
  EXPECT_EQ(Process(kLogits, p, {{}, other, {}}, &scratch),
            (std::vector<float>{2.0f, -1.0f, 0.5f, 3.0f, -2.0f, 0.0f, -0.5f}));
  EXPECT_EQ(Process(kLogits, p, {kPrompt, kOutput, {}}, &scratch), first);
}

TEST(LogitProcessorsTest, IdsOutsideTheVocabularyAreSkipped) {
  SamplingParams p;
  p.repetition_penalty = 2.0f;
  p.presence_penalty = 1.0f;
  p.logit_bias = {{-3, 1.0f}, {7, 1.0f}};
  const std::vector<int32_t> ids = {-1, 7, 1000};
  EXPECT_EQ(Process(kLogits, p, {ids, ids, ids}), kLogits);
}

TEST(LogitProcessorsTest, HasLogitProcessorsOnlyWhenSomethingApplies) {
  SamplingParams p;
  p.temperature = 0.7f;
  p.top_k = 5;
  p.top_p = 0.9f;
  p.min_p = 0.1f;
  EXPECT_FALSE(HasLogitProcessors(p, {kPrompt, kOutput, {}}));
  const std::vector<int32_t> suppressed = {2};
  EXPECT_TRUE(HasLogitProcessors(p, {{}, {}, suppressed}));
  p.logit_bias = {{1, 0.5f}};
  EXPECT_TRUE(HasLogitProcessors(p, {}));
  p = {};
  p.presence_penalty = 0.5f;
  EXPECT_TRUE(HasLogitProcessors(p, {}));
}

}  // namespace
}  // namespace tessera
