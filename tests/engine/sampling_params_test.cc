#include "engine/sampling_params.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace tessera {
namespace {

constexpr int64_t kVocab = 1000;

TEST(ValidateSamplingParamsTest, DefaultsAndEdgesOfEveryRangeAreAccepted) {
  EXPECT_TRUE(ValidateSamplingParams(SamplingParams{}, kVocab).ok());
  SamplingParams p;
  p.temperature = 100.0f;
  p.top_k = kVocab + 5;  // above the vocabulary: off, not an error
  p.top_p = 1.0f;
  p.min_p = 1.0f;
  p.repetition_penalty = 0.01f;
  p.presence_penalty = -2.0f;
  p.frequency_penalty = 2.0f;
  p.logit_bias = {{0, -100.0f}, {7, 0.5f}, {kVocab - 1, 100.0f}};
  p.num_logprobs = 20;
  EXPECT_TRUE(ValidateSamplingParams(p, kVocab).ok()) << ValidateSamplingParams(p, kVocab);
  p.top_p = 1e-6f;
  p.min_p = 0.0f;
  EXPECT_TRUE(ValidateSamplingParams(p, kVocab).ok());
}

void ExpectInvalid(const SamplingParams& p, const std::string& fragment) {
  const absl::Status s = ValidateSamplingParams(p, kVocab);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << fragment << ": " << s;
  EXPECT_NE(s.message().find(fragment), std::string::npos) << s;
}

TEST(ValidateSamplingParamsTest, ErrorsNameTheFieldAndItsRange) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (float t : {-0.5f, nan, inf}) {
    SamplingParams p;
    p.temperature = t;
    ExpectInvalid(p, "temperature must be finite and >= 0");
  }
  SamplingParams p;
  p.top_k = -1;
  ExpectInvalid(p, "top_k must be >= 0");
  p = {};
  p.top_p = 0.0f;
  ExpectInvalid(p, "top_p must be in (0, 1], got 0");
  p.top_p = 1.5f;
  ExpectInvalid(p, "top_p must be in (0, 1], got 1.5");
  p.top_p = nan;
  ExpectInvalid(p, "top_p must be in (0, 1]");
  p = {};
  for (float m : {-0.1f, 1.01f, nan}) {
    p.min_p = m;
    ExpectInvalid(p, "min_p must be in [0, 1]");
  }
  p = {};
  for (float r : {0.0f, -1.0f, inf, nan}) {
    p.repetition_penalty = r;
    ExpectInvalid(p, "repetition_penalty must be finite and > 0");
  }
  p = {};
  p.presence_penalty = 2.5f;
  ExpectInvalid(p, "presence_penalty must be in [-2, 2]");
  p = {};
  p.frequency_penalty = -3.0f;
  ExpectInvalid(p, "frequency_penalty must be in [-2, 2]");
  p.frequency_penalty = nan;
  ExpectInvalid(p, "frequency_penalty must be in [-2, 2]");
  p = {};
  p.logit_bias = {{kVocab, 1.0f}};
  ExpectInvalid(p, "logit_bias token id must be in [0, 1000), got 1000");
  p.logit_bias = {{-1, 1.0f}};
  ExpectInvalid(p, "logit_bias token id must be in [0, 1000), got -1");
  p.logit_bias = {{5, 1.0f}, {5, 2.0f}};
  ExpectInvalid(p, "sorted by token id with each id once; token 5 follows 5");
  p.logit_bias = {{9, 1.0f}, {5, 2.0f}};
  ExpectInvalid(p, "sorted by token id with each id once; token 5 follows 9");
  for (float b : {100.5f, -101.0f, nan, -inf}) {
    p.logit_bias = {{3, b}};
    ExpectInvalid(p, "logit_bias of token 3 must be in [-100, 100]");
  }
  p = {};
  for (int32_t n : {21, -1}) {
    p.num_logprobs = n;
    ExpectInvalid(p, "logprobs must be in [0, 20]");
  }
}

TEST(UsesTokenHistoryTest, OnlyPenaltiesReadTheHistory) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_p = 0.5f;
  p.logit_bias = {{1, 2.0f}};
  EXPECT_FALSE(UsesTokenHistory(p));
  p.repetition_penalty = 1.1f;
  EXPECT_TRUE(UsesTokenHistory(p));
  p = SamplingParams{};
  p.presence_penalty = 0.1f;
  EXPECT_TRUE(UsesTokenHistory(p));
  p = SamplingParams{};
  p.frequency_penalty = -0.1f;
  EXPECT_TRUE(UsesTokenHistory(p));
}

}  // namespace
}  // namespace tessera
