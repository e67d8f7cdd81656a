#include "engine/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace tessera {
namespace {

TEST(LogSoftmaxTest, NormalizesAndKeepsDifferences) {
  const std::vector<float> logits = {1.0f, 2.0f, -3.0f, 1000.0f, 999.0f};
  std::vector<float> lp;
  LogSoftmax(logits, &lp);
  double total = 0;
  for (float x : lp) total += std::exp(double{x});
  EXPECT_NEAR(total, 1.0, 1e-6);
  EXPECT_NEAR(lp[3] - lp[4], 1.0, 1e-4);
  EXPECT_NEAR(lp[3], -std::log1p(std::exp(-1.0)), 1e-5);  // large logits do not overflow
}

TEST(TopKTest, SortedDescendingWithLowerIdOnTies) {
  const std::vector<float> lp = {-1.0f, -0.5f, -1.0f, -3.0f, -0.5f};
  const std::vector<TokenLogprob> top = TopK(lp, 4);
  ASSERT_EQ(top.size(), 4u);
  EXPECT_EQ(top[0].token_id, 1);
  EXPECT_EQ(top[1].token_id, 4);
  EXPECT_EQ(top[2].token_id, 0);
  EXPECT_EQ(top[3].token_id, 2);
  EXPECT_EQ(TopK(lp, 99).size(), 5u);
  EXPECT_TRUE(TopK(lp, 0).empty());
}

TEST(SampleTokenTest, GreedyPicksArgmaxLowestIdOnTies) {
  SamplingParams greedy;
  EXPECT_EQ(SampleToken(std::vector<float>{0.1f, 3.0f, -2.0f, 3.0f}, greedy, 0), 1);
}

TEST(SampleTokenTest, SeededDrawsAreReproducibleAndDependOnIndex) {
  std::vector<float> logits(50);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = std::sin(i * 0.7f);
  SamplingParams p;
  p.temperature = 1.0f;
  p.seed = 1234;
  std::vector<int32_t> a, b;
  for (int i = 0; i < 40; ++i) a.push_back(SampleToken(logits, p, i));
  for (int i = 0; i < 40; ++i) b.push_back(SampleToken(logits, p, i));
  EXPECT_EQ(a, b);
  p.seed = 1235;
  std::vector<int32_t> c;
  for (int i = 0; i < 40; ++i) c.push_back(SampleToken(logits, p, i));
  EXPECT_NE(a, c);
}

// Empirical frequencies of temperature sampling follow softmax(logits / T) (chi-square test).
TEST(SampleTokenTest, FrequenciesFollowTemperedSoftmax) {
  const std::vector<float> logits = {0.0f, 1.0f, 2.0f, -1.0f, 0.5f};
  for (float t : {0.5f, 1.0f, 2.0f}) {
    SamplingParams p;
    p.temperature = t;
    p.seed = 99;
    const int n = 40000;
    std::vector<int> counts(logits.size());
    for (int i = 0; i < n; ++i) ++counts[SampleToken(logits, p, i)];
    double z = 0;
    for (float l : logits) z += std::exp(l / t);
    double chi2 = 0;
    for (size_t k = 0; k < logits.size(); ++k) {
      const double expected = n * std::exp(logits[k] / t) / z;
      chi2 += (counts[k] - expected) * (counts[k] - expected) / expected;
    }
    EXPECT_LT(chi2, 18.47) << "temperature " << t;  // p = 0.001 at 4 degrees of freedom
  }
}

TEST(CounterUniformTest, InUnitIntervalAndRoughlyUniform) {
  double sum = 0;
  for (uint64_t i = 0; i < 100000; ++i) {
    const double u = CounterUniform(7, i);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  EXPECT_NEAR(sum / 100000, 0.5, 0.005);
}

}  // namespace
}  // namespace tessera
