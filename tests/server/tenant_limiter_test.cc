#include "server/tenant_limiter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace tessera {
namespace {

TEST(TenantLimiterTest, RefusesPastTheLimitAndReleasesOnDestruction) {
  TenantLimiter limiter(2, {{"big", 3}});
  std::vector<TenantLimiter::Slot> held;
  for (int i = 0; i < 2; ++i) held.push_back(*limiter.Acquire("small"));
  absl::StatusOr<TenantLimiter::Slot> third = limiter.Acquire("small");
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(third.status().message(), ::testing::HasSubstr("\"small\" already has 2"));
  // Other tenants are not affected, and their own limits apply.
  for (int i = 0; i < 3; ++i) held.push_back(*limiter.Acquire("big"));
  EXPECT_FALSE(limiter.Acquire("big").ok());
  EXPECT_EQ(limiter.in_flight("small"), 2);

  held.erase(held.begin());  // one "small" slot goes back
  EXPECT_EQ(limiter.in_flight("small"), 1);
  EXPECT_TRUE(limiter.Acquire("small").ok());  // and is released at once again
  EXPECT_EQ(limiter.in_flight("small"), 1);
  held.clear();
  EXPECT_EQ(limiter.in_flight("small"), 0);
  EXPECT_EQ(limiter.in_flight("big"), 0);
}

TEST(TenantLimiterTest, MovedSlotsReleaseOnceAndReleaseIsIdempotent) {
  TenantLimiter limiter(1, {});
  TenantLimiter::Slot a = *limiter.Acquire("t");
  TenantLimiter::Slot b = std::move(a);
  EXPECT_EQ(limiter.in_flight("t"), 1);
  b.Release();
  b.Release();
  a.Release();
  EXPECT_EQ(limiter.in_flight("t"), 0);
  TenantLimiter::Slot c = *limiter.Acquire("t");
  c = *limiter.Acquire("u");  // assigning releases the "t" slot first
  EXPECT_EQ(limiter.in_flight("t"), 0);
  EXPECT_EQ(limiter.in_flight("u"), 1);
}

TEST(TenantLimiterTest, ConcurrentCallersNeverExceedTheLimit) {
  constexpr int kLimit = 4;
  TenantLimiter limiter(kLimit, {});
  std::atomic<int> held{0}, max_held{0}, refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        absl::StatusOr<TenantLimiter::Slot> slot = limiter.Acquire("t");
        if (!slot.ok()) {
          ++refused;
          continue;
        }
        const int now = ++held;
        int seen = max_held.load();
        while (now > seen && !max_held.compare_exchange_weak(seen, now)) {
        }
        --held;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_LE(max_held.load(), kLimit);
  EXPECT_EQ(limiter.in_flight("t"), 0);
}

}  // namespace
}  // namespace tessera
