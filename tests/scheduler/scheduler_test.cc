// The threaded Scheduler: submissions from many threads, immediate refusals, cancellation and
// shutdown, with the real CPU engine (random weights, no fixtures).
#include "scheduler/scheduler.h"

#include <gtest/gtest.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "scheduler/clock.h"
#include "scheduler/offline_scheduler.h"
#include "tests/scheduler/scheduler_test_util.h"

namespace tessera {
namespace {

using ::tessera::testing::MakeRequest;
using ::tessera::testing::MakeTinyEngine;
using ::tessera::testing::PromptOf;

CollectedRequest WaitFor(QueueSink& sink) {
  CollectedRequest c;
  while (!c.finished) {
    std::optional<RequestUpdate> u = sink.Next(absl::Seconds(60));
    if (!u) {
      ADD_FAILURE() << "no update within 60 s";
      break;
    }
    c.Add(*u);
  }
  return c;
}

TEST(SchedulerTest, ConcurrentSubmissionsGiveTheOfflineOutputs) {
  std::vector<GenerateRequest> requests;
  for (int i = 0; i < 24; ++i) {
    requests.push_back(MakeRequest(absl::StrCat("r", i), PromptOf(i, 3 + i % 11), 4 + i % 7));
  }
  auto offline_engine = MakeTinyEngine(256);
  OfflineScheduler offline(*offline_engine, {});
  auto want = offline.Run(requests);
  ASSERT_TRUE(want.ok());

  auto engine = MakeTinyEngine(64);  // tight: preemptions likely
  SchedulerOptions o;
  o.max_num_batched_tokens = 32;
  Scheduler scheduler(*engine, nullptr, o);
  scheduler.Start();
  std::vector<std::shared_ptr<QueueSink>> sinks(requests.size());
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      for (size_t i = t; i < requests.size(); i += 4) {
        sinks[i] = std::make_shared<QueueSink>();
        ASSERT_TRUE(scheduler.Submit(requests[i], sinks[i]).ok());
      }
    });
  }
  for (auto& c : clients) c.join();
  for (size_t i = 0; i < requests.size(); ++i) {
    const CollectedRequest got = WaitFor(*sinks[i]);
    ASSERT_TRUE(got.status.ok()) << got.status;
    EXPECT_EQ(got.samples[0].token_ids, (*want)[i].output_token_ids) << requests[i].id;
    ASSERT_TRUE(got.timings.has_value());
    EXPECT_EQ(got.timings->generated_tokens, requests[i].max_tokens);
  }
  scheduler.Shutdown();
  const SchedulerStats stats = scheduler.Stats();
  EXPECT_EQ(stats.requests_finished.at("length"), 24);
  EXPECT_EQ(stats.num_requests_running + stats.num_requests_waiting, 0);
  EXPECT_EQ(stats.kv_usage, 0.0);
  EXPECT_EQ(scheduler.num_in_flight(), 0);
}

TEST(SchedulerTest, RefusalsComeAtOnce) {
  auto engine = MakeTinyEngine(64);
  SchedulerOptions o;
  o.max_waiting_requests = 2;
  Scheduler scheduler(*engine, nullptr, o);  // not started: nothing leaves the queue
  auto sink = std::make_shared<QueueSink>();
  ASSERT_TRUE(scheduler.Submit(MakeRequest("a", PromptOf(1, 4), 3), sink).ok());
  EXPECT_EQ(scheduler.Submit(MakeRequest("a", PromptOf(1, 4), 3), sink).code(),
            absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(scheduler.Submit(MakeRequest("b", PromptOf(1, 4), 3), sink).ok());
  EXPECT_EQ(scheduler.Submit(MakeRequest("c", PromptOf(1, 4), 3), sink).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(scheduler.Submit(MakeRequest("d", {}, 3), sink).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(scheduler.Stats().requests_rejected_total, 1);
  EXPECT_EQ(scheduler.Stats().tenants.at("default").requests_rejected, 1);
  scheduler.Start();
  int finished = 0;
  while (finished < 2) {
    auto u = sink->Next(absl::Seconds(60));
    ASSERT_TRUE(u.has_value());
    if (u->finished) {
      EXPECT_TRUE(u->status.ok());
      ++finished;
    }
  }
  // Finished ids can be used again.
  auto again = std::make_shared<QueueSink>();
  ASSERT_TRUE(scheduler.Submit(MakeRequest("a", PromptOf(1, 4), 3), again).ok());
  EXPECT_TRUE(WaitFor(*again).status.ok());
}

TEST(SchedulerTest, CancelAndShutdownEndStreamsWithTheirStatus) {
  auto engine = MakeTinyEngine(128);
  Scheduler scheduler(*engine, nullptr, {});
  scheduler.Start();
  auto cancelled = std::make_shared<QueueSink>();
  auto running = std::make_shared<QueueSink>();
  GenerateRequest long_one = MakeRequest("long", PromptOf(2, 6), 240);
  long_one.ignore_eos = true;
  ASSERT_TRUE(scheduler.Submit(MakeRequest("c", PromptOf(1, 6), 240), cancelled).ok());
  ASSERT_TRUE(scheduler.Submit(long_one, running).ok());
  // Wait for a first token, then cancel.
  CollectedRequest c;
  while (c.samples.empty() || c.samples[0].token_ids.empty()) {
    auto u = cancelled->Next(absl::Seconds(60));
    ASSERT_TRUE(u.has_value());
    c.Add(*u);
  }
  scheduler.Cancel("c");
  EXPECT_EQ(WaitFor(*cancelled).status.code(), absl::StatusCode::kCancelled);
  scheduler.Shutdown(absl::UnavailableError("draining"));
  const CollectedRequest r = WaitFor(*running);
  if (!r.status.ok()) {
    EXPECT_EQ(r.status.code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(r.samples[0].finish, FinishReason::kAbort);
  }
  EXPECT_EQ(scheduler.Submit(MakeRequest("x", PromptOf(1, 4), 3), running).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(scheduler.num_in_flight(), 0);
}

// Submits a request with the same id from inside the final update's Push: the moment a client can
// see its stream end, the id must be free again.
class ReuseOnFinalSink final : public RequestSink {
 public:
  ReuseOnFinalSink(Scheduler* scheduler, GenerateRequest again)
      : scheduler_(scheduler), again_(std::move(again)) {}
  void Push(RequestUpdate update) override {
    // Before forwarding, so that the test thread reads reuse_status_ only after it is written.
    if (update.finished) reuse_status_ = scheduler_->Submit(again_, next_);
    inner_->Push(std::move(update));
  }
  std::shared_ptr<QueueSink> inner_ = std::make_shared<QueueSink>();
  std::shared_ptr<QueueSink> next_ = std::make_shared<QueueSink>();
  absl::Status reuse_status_ = absl::UnknownError("not reused");

 private:
  Scheduler* scheduler_;
  GenerateRequest again_;
};

TEST(SchedulerTest, AnIdIsFreeWhenItsFinalUpdateIsDelivered) {
  auto engine = MakeTinyEngine(64);
  Scheduler scheduler(*engine, nullptr, {});
  scheduler.Start();
  for (int i = 0; i < 5; ++i) {
    auto sink =
        std::make_shared<ReuseOnFinalSink>(&scheduler, MakeRequest("same", PromptOf(i, 4), 2));
    ASSERT_TRUE(scheduler.Submit(MakeRequest("same", PromptOf(i, 5), 3 + i), sink).ok());
    EXPECT_TRUE(WaitFor(*sink->inner_).status.ok());
    EXPECT_TRUE(sink->reuse_status_.ok()) << sink->reuse_status_;
    if (sink->reuse_status_.ok()) EXPECT_TRUE(WaitFor(*sink->next_).status.ok());
  }
  EXPECT_EQ(scheduler.num_in_flight(), 0);
}

// An engine whose first step blocks until released, telling the test when it has started.
class BlockingEngine final : public Engine {
 public:
  explicit BlockingEngine(Engine& inner) : inner_(inner) {}
  const ModelConfig& config() const override { return inner_.config(); }
  KvCacheGeometry kv_geometry() const override { return inner_.kv_geometry(); }
  absl::StatusOr<StepResult> Step(const StepPlan& plan) override {
    if (!blocked_once_) {
      blocked_once_ = true;
      entered_.Notify();
      release_.WaitForNotification();
    }
    return inner_.Step(plan);
  }
  absl::Notification entered_;
  absl::Notification release_;

 private:
  Engine& inner_;
  bool blocked_once_ = false;
};

// A scheduler on a manual clock whose first step (request "first") is running and blocked: what
// a test submits now arrives while that step runs, as requests do under load.
class BlockedStepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    scheduler_.Start();
    ASSERT_TRUE(scheduler_.Submit(MakeRequest("first", PromptOf(1, 4), 2), first_).ok());
    engine_.entered_.WaitForNotification();
  }
  // A test that failed before releasing the step must not leave the scheduler thread blocked.
  void TearDown() override {
    if (!engine_.release_.HasBeenNotified()) engine_.release_.Notify();
  }
  // Submits `r`, lets `waited` pass on the clock, then lets the blocked step finish.
  std::shared_ptr<QueueSink> SubmitDuringTheStep(const GenerateRequest& r, absl::Duration waited) {
    auto sink = std::make_shared<QueueSink>();
    EXPECT_TRUE(scheduler_.Submit(r, sink).ok());
    clock_.Advance(waited);
    engine_.release_.Notify();
    return sink;
  }

  std::unique_ptr<CpuEngine> cpu_ = MakeTinyEngine(64);
  BlockingEngine engine_{*cpu_};
  ManualClock clock_;
  Scheduler scheduler_{engine_, nullptr, {}, &clock_};
  std::shared_ptr<QueueSink> first_ = std::make_shared<QueueSink>();
};

TEST_F(BlockedStepTest, LatenciesCountTheWaitForTheStepAlreadyRunning) {
  GenerateRequest r = MakeRequest("second", PromptOf(2, 4), 2);
  r.timeout = absl::Milliseconds(400);
  const CollectedRequest got = WaitFor(*SubmitDuringTheStep(r, absl::Milliseconds(250)));
  ASSERT_TRUE(got.status.ok()) << got.status;
  ASSERT_TRUE(got.timings.has_value());
  EXPECT_GE(got.timings->queue_time, absl::Milliseconds(250));
  ASSERT_TRUE(got.timings->time_to_first_token.has_value());
  EXPECT_GE(*got.timings->time_to_first_token, absl::Milliseconds(250));
  EXPECT_GE(got.timings->e2e_latency, absl::Milliseconds(250));
  // The histograms see the same times: both requests waited out the blocked step.
  scheduler_.Shutdown();
  const SchedulerStats stats = scheduler_.Stats();
  EXPECT_EQ(stats.time_to_first_token_seconds.count, 2);
  EXPECT_GE(stats.time_to_first_token_seconds.sum, 0.5 - 1e-9);
  EXPECT_GE(stats.queue_time_seconds.sum, 0.25 - 1e-9);
}

TEST_F(BlockedStepTest, TheTimeoutCountsFromTheEdgesArrival) {
  GenerateRequest r = MakeRequest("late", PromptOf(2, 4), 2);
  r.timeout = absl::Milliseconds(100);
  // Its deadline passes while the step runs.
  EXPECT_EQ(WaitFor(*SubmitDuringTheStep(r, absl::Milliseconds(250))).status.code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(WaitFor(*first_).status.ok());
}

}  // namespace
}  // namespace tessera
