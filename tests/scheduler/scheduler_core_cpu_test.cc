// The serving scheduler with the real CPU engine (random weights, no fixtures): preemption by
// recompute, n samples sharing KV blocks, cancellation, deadlines and the bounded queue. The CPU
// engine is batch- and chunk-invariant bit for bit, so outputs must match exactly.
#include <gtest/gtest.h>

#include "scheduler/clock.h"
#include "scheduler/scheduler_core.h"
#include "tests/scheduler/scheduler_test_util.h"

namespace tessera {
namespace {

using ::tessera::testing::Driver;
using ::tessera::testing::MakeRequest;
using ::tessera::testing::MakeTinyEngine;
using ::tessera::testing::PromptOf;

std::vector<GenerateRequest> Mix(bool sampled) {
  std::vector<GenerateRequest> rs;
  for (int i = 0; i < 10; ++i) {
    GenerateRequest r = MakeRequest(std::to_string(i), PromptOf(i, 5 + 7 * i), 12 + 3 * i);
    r.priority = i % 3 == 0 ? Priority::kBatch : Priority::kInteractive;
    if (sampled) {
      r.sampling.temperature = 0.8f;
      r.seed = 1000 + i;
    }
    rs.push_back(std::move(r));
  }
  return rs;
}

std::map<std::string, CollectedRequest> RunAll(int32_t num_blocks, int32_t budget,
                                               std::vector<GenerateRequest> requests,
                                               int64_t* preemptions) {
  auto engine = MakeTinyEngine(num_blocks);
  ManualClock clock;
  SchedulerOptions o;
  o.max_num_batched_tokens = budget;
  SchedulerCore core(*engine, nullptr, clock, o);
  Driver d(core);
  for (auto& r : requests) EXPECT_TRUE(d.Add(r).ok());
  EXPECT_TRUE(d.RunToCompletion());
  EXPECT_EQ(core.blocks().num_free_blocks(), num_blocks) << "leaked KV blocks";
  *preemptions = core.stats().num_preemptions_total;
  std::map<std::string, CollectedRequest> out;
  for (auto& r : requests) out[r.id] = d.result(r.id);
  return out;
}

TEST(SchedulerCoreCpuTest, PreemptedRequestsResumeWithIdenticalOutput) {
  for (bool sampled : {false, true}) {
    int64_t roomy_preemptions = 0, tight_preemptions = 0;
    auto roomy = RunAll(512, 2048, Mix(sampled), &roomy_preemptions);
    // 40 blocks of 4 tokens: the longest request alone needs 29; together they cannot fit.
    auto tight = RunAll(40, 64, Mix(sampled), &tight_preemptions);
    EXPECT_EQ(roomy_preemptions, 0);
    EXPECT_GT(tight_preemptions, 0);
    for (const auto& [id, want] : roomy) {
      const CollectedRequest& got = tight.at(id);
      ASSERT_TRUE(got.finished && got.status.ok()) << id << ": " << got.status;
      ASSERT_EQ(got.samples.size(), 1u);
      EXPECT_EQ(got.samples[0].token_ids, want.samples[0].token_ids) << "request " << id;
      EXPECT_EQ(got.samples[0].finish, want.samples[0].finish);
    }
  }
}

TEST(SchedulerCoreCpuTest, GreedySamplesSharingThePromptEqualASingleRun) {
  // Prompt of 10 tokens in blocks of 4: the forked samples share 2 full blocks and copy the
  // partial third before writing into it.
  int64_t p = 0;
  GenerateRequest one = MakeRequest("one", PromptOf(3, 10), 20);
  GenerateRequest four = MakeRequest("four", PromptOf(3, 10), 20);
  four.n = 4;
  auto a = RunAll(64, 2048, {one}, &p);
  auto b = RunAll(64, 2048, {four}, &p);
  ASSERT_EQ(b["four"].samples.size(), 4u);
  for (const CollectedSample& s : b["four"].samples) {
    EXPECT_EQ(s.token_ids, a["one"].samples[0].token_ids);
  }
}

TEST(SchedulerCoreCpuTest, SeededSamplesAreReproducibleAndDistinct) {
  int64_t p = 0;
  GenerateRequest r = MakeRequest("s", PromptOf(5, 9), 16);
  r.n = 3;
  r.sampling.temperature = 1.5f;
  r.seed = 77;
  GenerateRequest alone = r;
  alone.id = "alone";
  alone.n = 1;
  auto mixed = Mix(true);
  mixed.push_back(r);
  auto a = RunAll(64, 2048, {r}, &p);
  auto b = RunAll(48, 16, mixed, &p);  // other traffic, small budget, preemptions
  auto c = RunAll(64, 2048, {alone}, &p);
  ASSERT_EQ(a["s"].samples.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(a["s"].samples[i].token_ids, b["s"].samples[i].token_ids);
  EXPECT_EQ(a["s"].samples[0].token_ids, c["alone"].samples[0].token_ids);
  EXPECT_NE(a["s"].samples[0].token_ids, a["s"].samples[1].token_ids);
  EXPECT_NE(a["s"].samples[1].token_ids, a["s"].samples[2].token_ids);
}

TEST(SchedulerCoreCpuTest, StopTokenIdsEndTheOutputAfterMinTokens) {
  int64_t p = 0;
  auto base = RunAll(64, 2048, {MakeRequest("r", PromptOf(2, 6), 12)}, &p);
  const std::vector<int32_t> ids = base["r"].samples[0].token_ids;
  ASSERT_EQ(ids.size(), 12u);
  GenerateRequest r = MakeRequest("r", PromptOf(2, 6), 12);
  r.stop_token_ids = {ids[4]};
  auto stopped = RunAll(64, 2048, {r}, &p);
  const auto& got = stopped["r"].samples[0];
  const size_t first = std::find(ids.begin(), ids.end(), ids[4]) - ids.begin();
  EXPECT_EQ(got.token_ids, std::vector<int32_t>(ids.begin(), ids.begin() + first + 1));
  EXPECT_EQ(got.finish, FinishReason::kStop);
  r.min_tokens = static_cast<int32_t>(first) + 2;
  auto later = RunAll(64, 2048, {r}, &p);
  EXPECT_GE(later["r"].samples[0].token_ids.size(), first + 2);
}

TEST(SchedulerCoreCpuTest, CancelAndTimeoutFreeEverything) {
  auto engine = MakeTinyEngine(64);
  ManualClock clock;
  SchedulerCore core(*engine, nullptr, clock, {});
  Driver d(core);
  ASSERT_TRUE(d.Add(MakeRequest("c", PromptOf(1, 8), 100)).ok());
  GenerateRequest t = MakeRequest("t", PromptOf(2, 8), 100);
  t.timeout = absl::Seconds(1);
  ASSERT_TRUE(d.Add(t).ok());
  ASSERT_TRUE(d.Add(MakeRequest("w", PromptOf(3, 8), 5)).ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(core.Step().ok());
  EXPECT_TRUE(core.Cancel("c"));
  clock.Advance(absl::Seconds(2));
  ASSERT_TRUE(d.RunToCompletion());
  EXPECT_EQ(d.result("c").status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(d.result("t").status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(d.result("w").status.ok());
  EXPECT_EQ(d.result("w").samples[0].token_ids.size(), 5u);
  EXPECT_EQ(d.result("c").samples[0].finish, FinishReason::kAbort);
  EXPECT_EQ(core.blocks().num_free_blocks(), 64);
  EXPECT_FALSE(core.Cancel("c"));
  EXPECT_EQ(core.stats().requests_finished.at("abort"), 2);
}

TEST(SchedulerCoreCpuTest, FullQueueRefusesAtOnceAndBadRequestsNameTheField) {
  auto engine = MakeTinyEngine(64);
  ManualClock clock;
  SchedulerOptions o;
  o.max_waiting_requests = 2;
  SchedulerCore core(*engine, nullptr, clock, o);
  Driver d(core);
  ASSERT_TRUE(d.Add(MakeRequest("a", PromptOf(1, 4), 3)).ok());
  ASSERT_TRUE(d.Add(MakeRequest("b", PromptOf(1, 4), 3)).ok());
  EXPECT_EQ(d.Add(MakeRequest("c", PromptOf(1, 4), 3)).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(d.Add(MakeRequest("a", PromptOf(1, 4), 3)).code(), absl::StatusCode::kAlreadyExists);
  GenerateRequest huge = MakeRequest("h", PromptOf(1, 230), 50);
  EXPECT_NE(core.Validate(huge).message().find("exceeds the model's context"), std::string::npos);
  GenerateRequest stop = MakeRequest("s", PromptOf(1, 4), 3);
  stop.stop = {"x"};
  EXPECT_NE(core.Validate(stop).message().find("need a tokenizer"), std::string::npos);
  GenerateRequest bad_n = MakeRequest("n", PromptOf(1, 4), 3);
  bad_n.n = 0;
  EXPECT_NE(core.Validate(bad_n).message().find("n must be in [1,"), std::string::npos);
  ASSERT_TRUE(d.RunToCompletion());
  EXPECT_EQ(core.stats().requests_rejected_total, 1);
}

}  // namespace
}  // namespace tessera
