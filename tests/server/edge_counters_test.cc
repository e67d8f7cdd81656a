#include "server/edge_counters.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace tessera {
namespace {

TEST(EdgeCountersTest, CountsByTenantAndCode) {
  EdgeCounters c;
  c.RecordRejected("a", absl::StatusCode::kUnauthenticated);
  c.RecordRejected("a", absl::StatusCode::kUnauthenticated);
  c.RecordRejected("b", absl::StatusCode::kNotFound);
  c.RecordStarted("a");
  c.RecordStarted("a");
  c.RecordFinished("a", absl::StatusCode::kOk);
  c.RecordFinished("a", absl::StatusCode::kDeadlineExceeded);
  const EdgeStats s = c.Snapshot();
  ASSERT_EQ(s.tenants.size(), 2u);
  const EdgeTenantStats& a = s.tenants.at("a");
  EXPECT_EQ(a.rejected, (std::map<std::string, int64_t>{{"UNAUTHENTICATED", 2}}));
  EXPECT_EQ(a.started, 2);
  EXPECT_EQ(a.finished, (std::map<std::string, int64_t>{{"DEADLINE_EXCEEDED", 1}, {"OK", 1}}));
  EXPECT_EQ(s.tenants.at("b").rejected, (std::map<std::string, int64_t>{{"NOT_FOUND", 1}}));
  EXPECT_EQ(s.tenants.at("b").started, 0);
}

TEST(EdgeCountersTest, SubmitRefusalsLeaveQueueFullToTheScheduler) {
  EdgeCounters c;
  c.RecordSubmitRefused("a", absl::ResourceExhaustedError("the waiting queue is full"));
  c.RecordSubmitRefused("a", absl::OkStatus());
  c.RecordSubmitRefused("a", absl::InvalidArgumentError("prompt too long"));
  c.RecordSubmitRefused("a", absl::UnavailableError("shutting down"));
  const EdgeStats s = c.Snapshot();
  EXPECT_EQ(s.tenants.at("a").rejected,
            (std::map<std::string, int64_t>{{"INVALID_ARGUMENT", 1}, {"UNAVAILABLE", 1}}));
}

TEST(EdgeCountersTest, SnapshotIsACopy) {
  EdgeCounters c;
  c.RecordStarted("a");
  const EdgeStats before = c.Snapshot();
  c.RecordStarted("a");
  EXPECT_EQ(before.tenants.at("a").started, 1);
  EXPECT_EQ(c.Snapshot().tenants.at("a").started, 2);
}

TEST(EdgeCountersTest, ConcurrentRecordsAreAllCounted) {
  EdgeCounters c;
  constexpr int kThreads = 4, kEach = 1000;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&c, i] {
      for (int n = 0; n < kEach; ++n) {
        c.RecordStarted(i % 2 == 0 ? "even" : "odd");
        c.RecordFinished("all", absl::StatusCode::kOk);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const EdgeStats s = c.Snapshot();
  EXPECT_EQ(s.tenants.at("even").started, 2 * kEach);
  EXPECT_EQ(s.tenants.at("odd").started, 2 * kEach);
  EXPECT_EQ(s.tenants.at("all").finished.at("OK"), kThreads * kEach);
}

TEST(EdgeCountersTest, StatusCodeNamesAreGrpcs) {
  EXPECT_EQ(StatusCodeName(absl::StatusCode::kOk), "OK");
  EXPECT_EQ(StatusCodeName(absl::StatusCode::kResourceExhausted), "RESOURCE_EXHAUSTED");
  EXPECT_EQ(StatusCodeName(absl::StatusCode::kUnauthenticated), "UNAUTHENTICATED");
  EXPECT_EQ(StatusCodeName(static_cast<absl::StatusCode>(99)), "UNKNOWN");
}

}  // namespace
}  // namespace tessera
