// The profiling pass at start (step_profiler.h, SchedulerCore::ProfileStepTime): over the fake
// engine (which fails a step that reads KV nobody wrote) whose steps take a known time on a
// manual clock, the seeded step-time model recovers that time's formula, the pass keeps within
// its bounds, and the KV cache is as before afterwards.
#include "scheduler/step_profiler.h"

#include <cmath>
#include <memory>
#include <optional>

#include "gtest/gtest.h"
#include "scheduler/clock.h"
#include "scheduler/scheduler_core.h"
#include "tests/scheduler/fake_engine.h"

namespace tessera::testing {
namespace {

// The engine's "true" speed, in seconds.
constexpr double kConstant = 2e-3;
constexpr double kPerPrefillToken = 1.5e-3;
constexpr double kPerDecode = 0.4e-3;
constexpr double kPerAttended = 2e-6;

// The FakeEngine, whose steps take kConstant + ... on `clock`, computed here from the plan
// itself (a sequence feeding more than one token is prefilling; attention over every position
// each fed token sees); and that fails step number `fail_at` (counting from 1), if set.
class TimedEngine final : public Engine {
 public:
  TimedEngine(ManualClock& clock, FakeEngineOptions options) : clock_(clock), inner_(options) {}

  const ModelConfig& config() const override { return inner_.config(); }
  KvCacheGeometry kv_geometry() const override { return inner_.kv_geometry(); }
  absl::StatusOr<StepResult> Step(const StepPlan& plan) override {
    ++steps_;
    if (fail_at_.has_value() && steps_ == *fail_at_) return absl::InternalError("device lost");
    double seconds = kConstant;
    for (int32_t i = 0; i < plan.num_seqs(); ++i) {
      const int64_t fed = plan.num_fed(i);
      const int64_t cached = plan.seqs[static_cast<size_t>(i)].num_cached_tokens;
      seconds += fed > 1 ? kPerPrefillToken * static_cast<double>(fed) : kPerDecode;
      for (int64_t j = 1; j <= fed; ++j) seconds += kPerAttended * static_cast<double>(cached + j);
    }
    clock_.Advance(absl::Seconds(seconds));
    return inner_.Step(plan);
  }

  void FailAt(int32_t step) { fail_at_ = step; }
  int32_t steps() const { return steps_; }

 private:
  ManualClock& clock_;
  FakeEngine inner_;
  int32_t steps_ = 0;
  std::optional<int32_t> fail_at_;
};

FakeEngineOptions EngineOptions() {
  FakeEngineOptions o;
  o.geometry = {/*num_blocks=*/512, /*block_size=*/16};
  o.max_position_embeddings = 4096;
  return o;
}

TEST(StepProfilerTest, SeededModelRecoversTheEnginesStepTime) {
  ManualClock clock;
  TimedEngine engine(clock, EngineOptions());
  SchedulerOptions so;
  so.max_num_batched_tokens = 2048;
  SchedulerCore core(engine, nullptr, clock, so);
  const int32_t free_before = core.blocks().num_free_blocks();

  absl::StatusOr<StepProfile> profile = core.ProfileStepTime(StepProfileOptions());
  ASSERT_TRUE(profile.ok()) << profile.status();
  EXPECT_EQ(engine.steps(), StepProfileOptions().max_steps);
  EXPECT_EQ(profile->samples.size(), static_cast<size_t>(engine.steps() - 1));  // not the warm-up
  const StepTimeCoefficients& c = core.step_model().Coefficients();
  EXPECT_NEAR(c.constant, kConstant, 1e-3 * kConstant) << c.DebugString();
  EXPECT_NEAR(c.per_prefill_token, kPerPrefillToken, 1e-3 * kPerPrefillToken) << c.DebugString();
  EXPECT_NEAR(c.per_decode_sequence, kPerDecode, 1e-3 * kPerDecode) << c.DebugString();
  EXPECT_NEAR(c.per_attended_token, kPerAttended, 1e-3 * kPerAttended) << c.DebugString();
  EXPECT_EQ(c.per_adapter_row, 0);  // not exercised: the prior
  const FitError error = FitErrorOf(c, profile->samples);
  EXPECT_LT(error.max_relative, 1e-3);

  // The cache is as before: every block free, no sequence left.
  EXPECT_EQ(core.blocks().num_free_blocks(), free_before);
  EXPECT_EQ(core.blocks().num_sequences(), 0);
  EXPECT_TRUE(core.blocks().CheckInvariants().ok());
  // The steps stayed within the scheduler's limits.
  EXPECT_GT(profile->elapsed, absl::ZeroDuration());
}

TEST(StepProfilerTest, KeepsWithinTheStepBoundAndTheSchedulersBudget) {
  ManualClock clock;
  TimedEngine engine(clock, EngineOptions());
  SchedulerOptions so;
  so.max_num_batched_tokens = 64;
  so.max_num_seqs = 4;
  SchedulerCore core(engine, nullptr, clock, so);
  StepProfileOptions po;
  po.max_steps = 5;
  absl::StatusOr<StepProfile> profile = core.ProfileStepTime(po);
  ASSERT_TRUE(profile.ok()) << profile.status();
  EXPECT_EQ(engine.steps(), 5);
  for (const StepSample& s : profile->samples) {
    EXPECT_LE(s.shape.prefill_tokens + s.shape.decode_sequences, 64);
    EXPECT_LE(s.shape.decode_sequences, 4);
  }
  EXPECT_EQ(core.blocks().num_sequences(), 0);
}

TEST(StepProfilerTest, ZeroStepsRunsNothingAndKeepsThePrior) {
  ManualClock clock;
  TimedEngine engine(clock, EngineOptions());
  SchedulerOptions so;
  so.step_time_prior.constant = 0.01;
  SchedulerCore core(engine, nullptr, clock, so);
  StepProfileOptions po;
  po.max_steps = 0;
  absl::StatusOr<StepProfile> profile = core.ProfileStepTime(po);
  ASSERT_TRUE(profile.ok()) << profile.status();
  EXPECT_EQ(engine.steps(), 0);
  EXPECT_TRUE(profile->samples.empty());
  EXPECT_EQ(core.step_model().Coefficients().constant, 0.01);
}

TEST(StepProfilerTest, StopsAtTheTimeBound) {
  ManualClock clock;
  TimedEngine engine(clock, EngineOptions());
  SchedulerCore core(engine, nullptr, clock, SchedulerOptions());
  StepProfileOptions po;
  po.max_time = absl::Milliseconds(1);  // over after the warm-up step
  absl::StatusOr<StepProfile> profile = core.ProfileStepTime(po);
  ASSERT_TRUE(profile.ok()) << profile.status();
  EXPECT_EQ(engine.steps(), 1);
}

TEST(StepProfilerTest, LeavesOutAGroupWhosePrefillWouldOverrunTheTimeBound) {
  // The default groups here: 16 tokens alone, 16 x 4, 128 alone, 16 x 8, each then decoding
  // twice. After the first two (about 149 ms of engine time at these rates) a 128-token prefill
  // (about 210 ms) would end past 300 ms: it and the last group are left out, not run late.
  ManualClock clock;
  TimedEngine engine(clock, EngineOptions());
  SchedulerCore core(engine, nullptr, clock, SchedulerOptions());
  StepProfileOptions po;
  po.max_time = absl::Milliseconds(300);
  absl::StatusOr<StepProfile> profile = core.ProfileStepTime(po);
  ASSERT_TRUE(profile.ok()) << profile.status();
  EXPECT_LE(profile->elapsed, po.max_time);
  EXPECT_EQ(engine.steps(), 7);  // the warm-up and two groups of three
  for (const StepSample& s : profile->samples) EXPECT_LE(s.shape.prefill_tokens, 64);
}

TEST(StepProfilerTest, AnEngineErrorIsReturnedAndFreesTheBlocks) {
  ManualClock clock;
  TimedEngine engine(clock, EngineOptions());
  SchedulerOptions so;
  so.step_time_prior.constant = 0.01;
  SchedulerCore core(engine, nullptr, clock, so);
  const int32_t free_before = core.blocks().num_free_blocks();
  engine.FailAt(3);  // inside the first group, while its sequences hold blocks
  absl::StatusOr<StepProfile> profile = core.ProfileStepTime(StepProfileOptions());
  ASSERT_FALSE(profile.ok());
  EXPECT_EQ(profile.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(profile.status().message().find("profiling pass"), std::string_view::npos);
  EXPECT_EQ(core.blocks().num_free_blocks(), free_before);
  EXPECT_EQ(core.blocks().num_sequences(), 0);
  EXPECT_EQ(core.step_model().Coefficients().constant, 0.01);  // nothing seeded
}

TEST(StepProfilerTest, RefusedWhileRequestsAreInFlightAndForBadOptions) {
  ManualClock clock;
  TimedEngine engine(clock, EngineOptions());
  SchedulerCore core(engine, nullptr, clock, SchedulerOptions());
  StepProfileOptions bad;
  bad.max_steps = -1;
  EXPECT_EQ(core.ProfileStepTime(bad).status().code(), absl::StatusCode::kInvalidArgument);
  GenerateRequest r;
  r.id = "a";
  r.prompt_token_ids = {1, 2, 3};
  r.max_tokens = 2;
  ASSERT_TRUE(core.Add(std::move(r), std::make_shared<QueueSink>()).ok());
  EXPECT_EQ(core.ProfileStepTime(StepProfileOptions()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(engine.steps(), 0);
}

TEST(StepProfilerTest, ServingAfterThePassIsUnaffected) {
  // The fake engine fails any step that reads KV its sequence did not write, so a block the pass
  // left referenced, or a cache the core believed held something, would fail here.
  ManualClock clock;
  TimedEngine engine(clock, EngineOptions());
  SchedulerCore core(engine, nullptr, clock, SchedulerOptions());
  ASSERT_TRUE(core.ProfileStepTime(StepProfileOptions()).ok());
  auto sink = std::make_shared<QueueSink>();
  GenerateRequest r;
  r.id = "after";
  for (int i = 0; i < 100; ++i) r.prompt_token_ids.push_back((i * 13 + 5) % 200);
  r.max_tokens = 8;
  r.ignore_eos = true;
  ASSERT_TRUE(core.Add(std::move(r), sink).ok());
  for (int i = 0; i < 100 && !core.idle(); ++i) ASSERT_TRUE(core.Step().ok());
  EXPECT_TRUE(core.idle());
  CollectedRequest out;
  while (auto u = sink->Next(absl::ZeroDuration())) out.Add(*u);
  EXPECT_TRUE(out.status.ok()) << out.status;
  ASSERT_EQ(out.samples.size(), 1u);
  EXPECT_EQ(out.samples[0].token_ids.size(), 8u);
}

}  // namespace
}  // namespace tessera::testing
