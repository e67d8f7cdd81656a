#include "scheduler/token_rate_limiter.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace tessera {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'000'000);

TEST(TokenRateLimiterTest, RefusesOverTheLimitAndRecovers) {
  TokenRateLimiter limiter;
  ASSERT_TRUE(limiter.SetLimit("acme", 1000).ok());
  EXPECT_TRUE(limiter.TryAcquire("acme", 600, kT0).ok());
  EXPECT_TRUE(limiter.TryAcquire("acme", 300, kT0 + absl::Seconds(20)).ok());
  // 900 used; 500 more fit once the 600 of kT0 leave the window, at kT0 + 60 s.
  const absl::Status s = limiter.TryAcquire("acme", 500, kT0 + absl::Seconds(30));
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_NE(s.message().find("\"acme\" is over its limit of 1000 tokens per minute"),
            std::string::npos)
      << s;
  EXPECT_NE(s.message().find("retry in 30.0 s"), std::string::npos) << s;
  EXPECT_EQ(limiter.AvailableAt("acme", 500, kT0 + absl::Seconds(30)), kT0 + absl::Seconds(60));
  EXPECT_EQ(limiter.Used("acme", kT0 + absl::Seconds(30)), 900);
  // Small requests still fit meanwhile.
  EXPECT_TRUE(limiter.TryAcquire("acme", 100, kT0 + absl::Seconds(30)).ok());
  EXPECT_FALSE(limiter.TryAcquire("acme", 500, kT0 + absl::Seconds(59)).ok());
  EXPECT_TRUE(limiter.TryAcquire("acme", 500, kT0 + absl::Seconds(60)).ok());
  // Other tenants are not limited.
  EXPECT_TRUE(limiter.TryAcquire("other", 1'000'000, kT0).ok());
}

TEST(TokenRateLimiterTest, ARequestLargerThanTheLimitCanNeverPass) {
  TokenRateLimiter limiter;
  ASSERT_TRUE(limiter.SetLimit("t", 100).ok());
  const absl::Status s = limiter.TryAcquire("t", 101, kT0);
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_NE(s.message().find("never"), std::string::npos) << s;
  EXPECT_EQ(limiter.AvailableAt("t", 101, kT0), absl::InfiniteFuture());
  EXPECT_TRUE(limiter.TryAcquire("t", 100, kT0).ok());
}

TEST(TokenRateLimiterTest, RefundGivesBackUnusedTokens) {
  TokenRateLimiter limiter;
  ASSERT_TRUE(limiter.SetLimit("t", 1000).ok());
  ASSERT_TRUE(limiter.TryAcquire("t", 800, kT0).ok());  // prompt + max_tokens
  EXPECT_FALSE(limiter.TryAcquire("t", 400, kT0 + absl::Seconds(1)).ok());
  limiter.Refund("t", 300);  // stopped early
  EXPECT_EQ(limiter.Used("t", kT0 + absl::Seconds(1)), 500);
  EXPECT_TRUE(limiter.TryAcquire("t", 400, kT0 + absl::Seconds(1)).ok());
  limiter.Refund("t", 5000);  // never below zero
  EXPECT_EQ(limiter.Used("t", kT0 + absl::Seconds(1)), 0);
}

TEST(TokenRateLimiterTest, NoMinuteEverGrantsMoreThanTheLimitAndRetryTimesAreExact) {
  TokenRateLimiter limiter;
  constexpr int64_t kLimit = 5000;
  ASSERT_TRUE(limiter.SetLimit("t", kLimit).ok());
  std::mt19937 rng(7);
  std::vector<std::pair<absl::Time, int64_t>> granted;
  absl::Time now = kT0;
  int refusals = 0;
  for (int i = 0; i < 3000; ++i) {
    now += absl::Milliseconds(std::uniform_int_distribution<int>(0, 2000)(rng));
    const int64_t n = std::uniform_int_distribution<int64_t>(1, 1500)(rng);
    const absl::Time at = limiter.AvailableAt("t", n, now);
    const absl::Status s = limiter.TryAcquire("t", n, now);
    EXPECT_EQ(s.ok(), at == now) << s;
    if (s.ok()) {
      granted.emplace_back(now, n);
      continue;
    }
    ++refusals;
    ASSERT_TRUE(absl::IsResourceExhausted(s)) << s;
    // Told to retry at `at`: not a moment earlier, and then it passes.
    ASSERT_GT(at, now);
    EXPECT_FALSE(limiter.TryAcquire("t", n, at - absl::Nanoseconds(1)).ok());
    ASSERT_TRUE(limiter.TryAcquire("t", n, at).ok());
    granted.emplace_back(at, n);
    now = at;
  }
  EXPECT_GT(refusals, 100);
  // Every window (g, g + 60 s] starting at a grant holds at most the limit.
  for (size_t i = 0; i < granted.size(); ++i) {
    int64_t sum = 0;
    for (size_t j = i; j < granted.size() && granted[j].first < granted[i].first + absl::Minutes(1);
         ++j) {
      sum += granted[j].second;
    }
    ASSERT_LE(sum, kLimit) << "window starting at grant " << i;
  }
}

TEST(TokenRateLimiterTest, LimitsAreValidatedAndZeroMeansUnlimited) {
  TokenRateLimiter limiter;
  absl::Status s = limiter.SetLimit("t", -5);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find("\"t\""), std::string::npos) << s;
  ASSERT_TRUE(limiter.SetLimit("t", 10).ok());
  EXPECT_EQ(limiter.Limit("t"), 10);
  EXPECT_FALSE(limiter.TryAcquire("t", 11, kT0).ok());
  ASSERT_TRUE(limiter.SetLimit("t", 0).ok());
  EXPECT_TRUE(limiter.TryAcquire("t", 1'000'000, kT0).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(limiter.TryAcquire("t", -1, kT0)));
}

}  // namespace
}  // namespace tessera
