#include "client/arrival_process.h"

#include <cmath>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

struct GapStats {
  double mean = 0;
  double cv = 0;
};

GapStats Draw(ArrivalProcess& p, int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  double sum = 0, sum_sq = 0;
  for (int i = 0; i < n; ++i) {
    const double g = p.NextGap(rng);
    EXPECT_GE(g, 0);
    sum += g;
    sum_sq += g * g;
  }
  const double mean = sum / n;
  const double var = sum_sq / n - mean * mean;
  return {mean, std::sqrt(var) / mean};
}

TEST(ArrivalProcessTest, PoissonGapsHaveTheRateAndCvOne) {
  absl::StatusOr<ArrivalProcess> p = ArrivalProcess::Create(ArrivalKind::kPoisson, 5, 1);
  ASSERT_TRUE(p.ok()) << p.status();
  const GapStats s = Draw(*p, 400'000, 7);
  // Standard error of the mean: 0.2 / sqrt(4e5) = 0.03%; of the CV about 0.2%.
  EXPECT_NEAR(s.mean, 0.2, 0.2 * 0.01);
  EXPECT_NEAR(s.cv, 1.0, 0.02);
}

TEST(ArrivalProcessTest, GammaGapsHaveTheRateAndTheConfiguredCv) {
  for (double cv : {0.5, 2.0, 4.0}) {
    absl::StatusOr<ArrivalProcess> p = ArrivalProcess::Create(ArrivalKind::kGamma, 3, cv);
    ASSERT_TRUE(p.ok()) << p.status();
    const GapStats s = Draw(*p, 400'000, 11);
    EXPECT_NEAR(s.mean, 1.0 / 3, 1.0 / 3 * 0.03) << "cv " << cv;
    EXPECT_NEAR(s.cv, cv, cv * 0.04) << "cv " << cv;
  }
}

TEST(ArrivalProcessTest, InfiniteRateSendsEverythingAtOnce) {
  absl::StatusOr<ArrivalProcess> p =
      ArrivalProcess::Create(ArrivalKind::kPoisson, std::numeric_limits<double>::infinity(), 1);
  ASSERT_TRUE(p.ok()) << p.status();
  std::mt19937_64 rng(1);
  EXPECT_EQ(p->NextGap(rng), 0);
}

TEST(ArrivalProcessTest, RejectsBadParameters) {
  EXPECT_THAT(ArrivalProcess::Create(ArrivalKind::kPoisson, 0, 1).status().message(),
              HasSubstr("must be > 0"));
  EXPECT_FALSE(ArrivalProcess::Create(ArrivalKind::kPoisson, -2, 1).ok());
  EXPECT_FALSE(
      ArrivalProcess::Create(ArrivalKind::kPoisson, std::numeric_limits<double>::quiet_NaN(), 1)
          .ok());
  EXPECT_THAT(ArrivalProcess::Create(ArrivalKind::kGamma, 1, 0).status().message(),
              HasSubstr("CV"));
  EXPECT_THAT(ArrivalProcess::Create(ArrivalKind::kPoisson, 1, 2).status().message(),
              HasSubstr("gamma"));
  EXPECT_FALSE(ParseArrivalKind("uniform").ok());
  EXPECT_EQ(*ParseArrivalKind("gamma"), ArrivalKind::kGamma);
}

TEST(ZipfSamplerTest, FrequenciesFollowTheExponent) {
  // s = 1 over 3 ranks: weights 1, 1/2, 1/3, so probabilities 6/11, 3/11, 2/11.
  absl::StatusOr<ZipfSampler> z = ZipfSampler::Create(3, 1.0);
  ASSERT_TRUE(z.ok()) << z.status();
  const std::vector<double> expected = {6.0 / 11, 3.0 / 11, 2.0 / 11};
  std::vector<int> counts(3);
  std::mt19937_64 rng(3);
  constexpr int kN = 300'000;
  for (int i = 0; i < kN; ++i) ++counts[z->Sample(rng)];
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(z->Probability(i), expected[i], 1e-12);
    EXPECT_NEAR(counts[i] / double{kN}, expected[i], 0.005) << "rank " << i;
  }
}

TEST(ZipfSamplerTest, SteeperExponentConcentratesOnTheHead) {
  // s = 2 over 2 ranks: weights 1 and 1/4, so 0.8 and 0.2.
  absl::StatusOr<ZipfSampler> z = ZipfSampler::Create(2, 2.0);
  ASSERT_TRUE(z.ok());
  EXPECT_NEAR(z->Probability(0), 0.8, 1e-12);
  EXPECT_NEAR(z->Probability(1), 0.2, 1e-12);
}

TEST(ZipfSamplerTest, ExponentZeroIsUniform) {
  absl::StatusOr<ZipfSampler> z = ZipfSampler::Create(4, 0);
  ASSERT_TRUE(z.ok());
  std::vector<int> counts(4);
  std::mt19937_64 rng(5);
  for (int i = 0; i < 200'000; ++i) ++counts[z->Sample(rng)];
  for (int c : counts) EXPECT_NEAR(c / 200'000.0, 0.25, 0.005);
}

TEST(ZipfSamplerTest, RejectsBadParameters) {
  EXPECT_FALSE(ZipfSampler::Create(0, 1).ok());
  EXPECT_FALSE(ZipfSampler::Create(3, -1).ok());
}

}  // namespace
}  // namespace tessera
