// Sleep mode in the threaded Scheduler: admission stops while the engine sleeps (refused, or
// parked up to a bound and run after the wake), a sleep waits a bounded time for requests in
// flight and otherwise leaves the server serving, and the prefix cache and resident adapters do
// not survive a sleep (the engine's KV and slots are gone).
//
// The engine is the fake one (fake_engine.h) behind a wrapper that sleeps: on wake it starts a
// fresh FakeEngine, whose KV cache remembers nothing, so a step that reads a block cached before
// the sleep fails.
#include <gtest/gtest.h>

#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "scheduler/scheduler.h"
#include "tests/scheduler/fake_engine.h"

namespace tessera {
namespace {

using ::tessera::testing::FakeEngine;
using ::tessera::testing::FakeEngineOptions;

class SleepyEngine final : public Engine {
 public:
  // The wrapper serves the adapter slots; the fake engine ignores them.
  explicit SleepyEngine(FakeEngineOptions options)
      : slots_(options.num_adapter_slots), options_(std::move(options)) {
    options_.num_adapter_slots = 0;
    fake_ = std::make_unique<FakeEngine>(options_);
  }

  const ModelConfig& config() const override { return fake_->config(); }
  KvCacheGeometry kv_geometry() const override { return fake_->kv_geometry(); }
  int32_t num_adapter_slots() const override { return static_cast<int32_t>(slots_.size()); }
  absl::Status SetAdapter(int32_t slot, std::shared_ptr<const LoraWeights> weights,
                          absl::Span<const int32_t> kv_blocks) override {
    if (!kv_blocks.empty()) return absl::InvalidArgumentError("no blocks expected");
    if (asleep_ && weights != nullptr) return absl::FailedPreconditionError("asleep");
    slots_[slot] = std::move(weights);
    return absl::OkStatus();
  }
  absl::StatusOr<StepResult> Step(const StepPlan& plan) override {
    if (gate_ != nullptr) gate_->WaitForNotification();
    if (asleep_) return absl::FailedPreconditionError("stepped while asleep");
    for (const StepSequence& s : plan.seqs) {
      if (s.adapter_slot >= 0 && slots_[s.adapter_slot] == nullptr) {
        return absl::InvalidArgumentError("a sequence names an empty slot");
      }
    }
    return fake_->Step(plan);
  }
  absl::Status Sleep(SleepLevel level) override {
    if (asleep_) return absl::FailedPreconditionError("asleep already");
    for (const auto& s : slots_) occupied_slots_at_sleep_ += s != nullptr;
    // What a real engine does to its slots: they are gone.
    for (auto& s : slots_) s.reset();
    asleep_ = true;
    level_ = level;
    ++sleeps_;
    return absl::OkStatus();
  }
  absl::Status WakeUp() override {
    if (!asleep_) return absl::FailedPreconditionError("awake");
    fake_ = std::make_unique<FakeEngine>(options_);  // the KV cache starts empty
    asleep_ = false;
    level_ = SleepLevel::kAwake;
    return absl::OkStatus();
  }
  SleepLevel sleep_level() const override { return level_; }

  // Steps wait until ReleaseSteps (call before the scheduler starts).
  void HoldSteps() { gate_ = std::make_unique<absl::Notification>(); }
  void ReleaseSteps() { gate_->Notify(); }
  int occupied_slots_at_sleep() const { return occupied_slots_at_sleep_; }
  int sleeps() const { return sleeps_; }

 private:
  std::vector<std::shared_ptr<const LoraWeights>> slots_;
  FakeEngineOptions options_;
  std::unique_ptr<FakeEngine> fake_;
  std::unique_ptr<absl::Notification> gate_;
  bool asleep_ = false;
  SleepLevel level_ = SleepLevel::kAwake;
  int occupied_slots_at_sleep_ = 0;
  int sleeps_ = 0;
};

FakeEngineOptions NoEos() {
  FakeEngineOptions o;
  o.eos_probability = 0;
  o.num_adapter_slots = 2;
  return o;
}

GenerateRequest Request(std::string id, int32_t first = 5, int32_t len = 40) {
  GenerateRequest r;
  r.id = std::move(id);
  for (int32_t i = 0; i < len; ++i) r.prompt_token_ids.push_back((first + 3 * i) % 200 + 1);
  r.max_tokens = 4;
  return r;
}

CollectedRequest WaitFor(QueueSink& sink, absl::Duration timeout = absl::Seconds(30)) {
  CollectedRequest c;
  while (!c.finished) {
    std::optional<RequestUpdate> u = sink.Next(timeout);
    if (!u) {
      ADD_FAILURE() << "no update within " << timeout;
      break;
    }
    c.Add(*u);
  }
  return c;
}

CollectedRequest RunToEnd(Scheduler& scheduler, GenerateRequest r) {
  auto sink = std::make_shared<QueueSink>();
  const absl::Status s = scheduler.Submit(std::move(r), sink);
  if (!s.ok()) {
    CollectedRequest c;
    c.finished = true;
    c.status = s;
    return c;
  }
  return WaitFor(*sink);
}

TEST(SchedulerSleepTest, RefusesWhileAsleepAndServesAfterTheWake) {
  SleepyEngine engine(NoEos());
  Scheduler scheduler(engine, nullptr, SchedulerOptions{});
  scheduler.Start();
  ASSERT_TRUE(RunToEnd(scheduler, Request("a")).status.ok());

  ASSERT_TRUE(scheduler.Sleep(SleepLevel::kOffloadWeights, absl::Seconds(5)).ok());
  EXPECT_EQ(engine.sleep_level(), SleepLevel::kOffloadWeights);
  EXPECT_EQ(scheduler.sleep_level(), SleepLevel::kOffloadWeights);
  EXPECT_EQ(scheduler.Stats().sleep_level, SleepLevel::kOffloadWeights);
  const absl::Status refused = scheduler.Submit(Request("b"), std::make_shared<QueueSink>());
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(refused.message().find("asleep"), absl::string_view::npos) << refused;
  // Same level again: nothing to do. The other level: wake first.
  EXPECT_TRUE(scheduler.Sleep(SleepLevel::kOffloadWeights, absl::Seconds(5)).ok());
  EXPECT_EQ(scheduler.Sleep(SleepLevel::kDiscardWeights, absl::Seconds(5)).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(engine.sleeps(), 1);

  absl::StatusOr<absl::Duration> took = scheduler.WakeUp();
  ASSERT_TRUE(took.ok()) << took.status();
  EXPECT_GT(*took, absl::ZeroDuration());
  EXPECT_EQ(scheduler.sleep_level(), SleepLevel::kAwake);
  EXPECT_EQ(scheduler.Stats().sleep_level, SleepLevel::kAwake);
  EXPECT_GT(scheduler.Stats().last_wake_seconds, 0);
  // Awake already: a no-op.
  EXPECT_EQ(*scheduler.WakeUp(), absl::ZeroDuration());
  // The same prompt again: its blocks were cached before the sleep, but the KV is gone, so the
  // prefix cache must have been dropped (the fresh fake engine fails a read of unwritten KV).
  const int64_t hits = scheduler.Stats().prefix_cache_hits_total;
  const CollectedRequest again = RunToEnd(scheduler, Request("a2"));
  EXPECT_TRUE(again.status.ok()) << again.status;
  EXPECT_EQ(scheduler.Stats().prefix_cache_hits_total, hits);
  EXPECT_TRUE(scheduler.engine_status().ok()) << scheduler.engine_status();
}

TEST(SchedulerSleepTest, ResidentAdaptersAreDroppedAndReloadAfterTheWake) {
  SleepyEngine engine(NoEos());
  Scheduler scheduler(engine, nullptr, SchedulerOptions{});
  scheduler.Start();
  auto adapter = std::make_shared<AdapterRef>();
  adapter->name = "a";
  adapter->weights = std::make_shared<LoraWeights>();
  GenerateRequest r = Request("with-adapter");
  r.adapter = adapter;
  ASSERT_TRUE(RunToEnd(scheduler, r).status.ok());

  ASSERT_TRUE(scheduler.Sleep(SleepLevel::kDiscardWeights, absl::Seconds(5)).ok());
  // The scheduler emptied the slot before the engine slept: nothing still counted it resident.
  EXPECT_EQ(engine.occupied_slots_at_sleep(), 0);
  ASSERT_TRUE(scheduler.WakeUp().ok());
  r.id = "with-adapter-again";
  const CollectedRequest again = RunToEnd(scheduler, r);
  EXPECT_TRUE(again.status.ok()) << again.status;
}

TEST(SchedulerSleepTest, SleepWaitsForRequestsInFlightUpToItsBound) {
  SleepyEngine engine(NoEos());
  engine.HoldSteps();
  Scheduler scheduler(engine, nullptr, SchedulerOptions{});
  scheduler.Start();
  auto sink = std::make_shared<QueueSink>();
  ASSERT_TRUE(scheduler.Submit(Request("running"), sink).ok());

  const absl::Status refused =
      scheduler.Sleep(SleepLevel::kOffloadWeights, absl::Milliseconds(100));
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("1 requests still in flight"), absl::string_view::npos)
      << refused;
  EXPECT_EQ(engine.sleeps(), 0);
  EXPECT_EQ(scheduler.sleep_level(), SleepLevel::kAwake);
  // Still serving: new requests are admitted.
  auto second = std::make_shared<QueueSink>();
  ASSERT_TRUE(scheduler.Submit(Request("second", 9), second).ok());

  // A sleep that waits long enough goes ahead once they finish.
  std::thread release([&engine] {
    absl::SleepFor(absl::Milliseconds(100));
    engine.ReleaseSteps();
  });
  EXPECT_TRUE(scheduler.Sleep(SleepLevel::kOffloadWeights, absl::Seconds(30)).ok());
  release.join();
  EXPECT_TRUE(WaitFor(*sink).status.ok());
  EXPECT_TRUE(WaitFor(*second).status.ok());
  EXPECT_EQ(engine.sleeps(), 1);
}

TEST(SchedulerSleepTest, ParkedRequestsRunAfterTheWake) {
  SleepyEngine engine(NoEos());
  SchedulerOptions o;
  o.asleep_queue_timeout = absl::Seconds(60);
  Scheduler scheduler(engine, nullptr, o);
  scheduler.Start();
  ASSERT_TRUE(scheduler.Sleep(SleepLevel::kOffloadWeights, absl::Seconds(5)).ok());
  auto sink = std::make_shared<QueueSink>();
  ASSERT_TRUE(scheduler.Submit(Request("parked"), sink).ok());
  EXPECT_EQ(scheduler.num_parked(), 1);
  EXPECT_EQ(scheduler.num_in_flight(), 1);
  EXPECT_EQ(scheduler.Stats().num_requests_waiting, 1);
  EXPECT_FALSE(sink->Next(absl::Milliseconds(50)).has_value());  // nothing while asleep

  ASSERT_TRUE(scheduler.WakeUp().ok());
  const CollectedRequest got = WaitFor(*sink);
  EXPECT_TRUE(got.status.ok()) << got.status;
  ASSERT_EQ(got.samples.size(), 1u);
  EXPECT_EQ(got.samples[0].token_ids.size(), 4u);
  EXPECT_EQ(scheduler.num_parked(), 0);
}

TEST(SchedulerSleepTest, ParkedRequestsFailAfterTheQueueTimeoutAndCanBeCancelled) {
  SleepyEngine engine(NoEos());
  SchedulerOptions o;
  o.asleep_queue_timeout = absl::Milliseconds(200);
  Scheduler scheduler(engine, nullptr, o);
  scheduler.Start();
  ASSERT_TRUE(scheduler.Sleep(SleepLevel::kOffloadWeights, absl::Seconds(5)).ok());
  auto expiring = std::make_shared<QueueSink>();
  auto cancelled = std::make_shared<QueueSink>();
  ASSERT_TRUE(scheduler.Submit(Request("expiring"), expiring).ok());
  ASSERT_TRUE(scheduler.Submit(Request("cancelled", 11), cancelled).ok());
  scheduler.Cancel("cancelled");
  const CollectedRequest c = WaitFor(*cancelled, absl::Seconds(1));
  EXPECT_EQ(c.status.code(), absl::StatusCode::kCancelled) << c.status;

  const CollectedRequest e = WaitFor(*expiring);
  EXPECT_EQ(e.status.code(), absl::StatusCode::kUnavailable) << e.status;
  EXPECT_NE(e.status.message().find("--sleep-queue-timeout"), absl::string_view::npos) << e.status;
  EXPECT_EQ(scheduler.num_in_flight(), 0);
}

TEST(SchedulerSleepTest, ShutdownWhileAsleepEndsParkedRequests) {
  SleepyEngine engine(NoEos());
  SchedulerOptions o;
  o.asleep_queue_timeout = absl::Seconds(60);
  Scheduler scheduler(engine, nullptr, o);
  scheduler.Start();
  ASSERT_TRUE(scheduler.Sleep(SleepLevel::kDiscardWeights, absl::Seconds(5)).ok());
  auto sink = std::make_shared<QueueSink>();
  ASSERT_TRUE(scheduler.Submit(Request("parked"), sink).ok());
  scheduler.Shutdown(absl::UnavailableError("shut down"));
  const CollectedRequest got = WaitFor(*sink, absl::Seconds(5));
  EXPECT_EQ(got.status.code(), absl::StatusCode::kUnavailable) << got.status;
  EXPECT_EQ(scheduler.Sleep(SleepLevel::kOffloadWeights, absl::Seconds(1)).code(),
            absl::StatusCode::kUnavailable);
}

TEST(SchedulerSleepTest, AnEngineWithoutSleepModeKeepsServing) {
  FakeEngine engine(NoEos());
  Scheduler scheduler(engine, nullptr, SchedulerOptions{});
  scheduler.Start();
  EXPECT_EQ(scheduler.Sleep(SleepLevel::kOffloadWeights, absl::Seconds(1)).code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(scheduler.sleep_level(), SleepLevel::kAwake);
  EXPECT_TRUE(RunToEnd(scheduler, Request("after")).status.ok());
}

}  // namespace
}  // namespace tessera
