// Scheduler bugs that the property tests found, each as the smallest workload that showed it,
// run through the same simulation and checks; and corner cases of the scheduler's bookkeeping
// that random workloads are unlikely to hit.
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "scheduler/clock.h"
#include "scheduler/scheduler_core.h"
#include "tests/scheduler/fake_engine.h"
#include "tests/scheduler/scheduler_simulation.h"

namespace tessera {
namespace {

using ::tessera::testing::Arrival;
using ::tessera::testing::FakeEngine;
using ::tessera::testing::FakeEngineOptions;
using ::tessera::testing::Simulation;
using ::tessera::testing::SimulationConfig;

GenerateRequest Request(std::string id, int32_t prompt_len, int32_t n, int32_t max_tokens) {
  GenerateRequest r;
  r.id = std::move(id);
  for (int32_t i = 0; i < prompt_len; ++i) r.prompt_token_ids.push_back(10 + i);
  r.n = n;
  r.max_tokens = max_tokens;
  r.sampling.temperature = 1.0f;
  r.seed = 1234;
  return r;
}

// Blocks of 4 tokens, 5 in all. Step 1 computes x's prompt but its last token (blocks a, b) and
// y's first token (block c); both fork. Step 2, in order x0, y0, x1, x2, y1: x0 copies b -> d, y0
// copies c -> e, and x1, still sharing b with x2, needs a block: y1 (the newest) is preempted and
// frees c, the source of y0's copy. c must not become x1's copy destination in the same plan (the
// engine may run the copies in any order), which the engine refuses as a chained copy.
TEST(SchedulerCoreRegressionTest, CopySourceFreedByAPreemptionIsNotReusedInTheSamePlan) {
  SimulationConfig c;
  c.engine.geometry = {/*num_blocks=*/5, /*block_size=*/4};
  c.engine.eos_probability = 0;
  c.max_tick = absl::ZeroDuration();
  Simulation sim(c);
  std::vector<Arrival> arrivals;
  arrivals.push_back({absl::ZeroDuration(), Request("x", 6, 3, 2)});
  arrivals.push_back({absl::ZeroDuration(), Request("y", 2, 2, 2)});
  ASSERT_TRUE(sim.Run(std::move(arrivals)));
  ASSERT_TRUE(sim.CheckOutcomes());
  EXPECT_GT(sim.core().stats().num_preemptions_total, 0);
}

// One sequence slot, interactive requests always waiting, and a batch request whose prompt (200)
// takes 4 steps of the 64-token budget. Once aged it was admitted, then preempted by the next
// waiting interactive request one step later, its wait restarting: it could never finish its
// prompt while the interactive stream lasted. An aged batch request now ranks as interactive
// (by age) and its wait counts from arrival.
TEST(SchedulerCoreRegressionTest, AgedBatchRequestIsNotPreemptedByNewerInteractiveOnes) {
  SimulationConfig c;
  c.options.max_num_seqs = 1;
  c.options.max_num_batched_tokens = 64;
  c.options.batch_max_wait = absl::Seconds(1);
  c.engine.eos_probability = 0;
  c.max_tick = absl::Milliseconds(20);
  Simulation sim(c);
  const absl::Time start = sim.now();
  const absl::Duration load_for = absl::Seconds(10);
  int next = 0;
  sim.between_steps = [&](Simulation& s) {
    while (s.now() < start + load_for && s.num_in_flight() < 4) {
      GenerateRequest r = Request("i" + std::to_string(next++), 10, 1, 5);
      r.ignore_eos = true;
      s.Add(std::move(r));
    }
  };
  GenerateRequest batch = Request("batch", 200, 1, 5);
  batch.priority = Priority::kBatch;
  std::vector<Arrival> arrivals;
  arrivals.push_back({absl::ZeroDuration(), std::move(batch)});
  ASSERT_TRUE(sim.Run(std::move(arrivals)));
  ASSERT_TRUE(sim.CheckOutcomes());
  const auto& sink = *sim.requests().at("batch").sink;
  EXPECT_LT(*sink.final_time, start + load_for / 2)
      << "the batch request took " << (*sink.final_time - start);
}

// Cancellations and deadlines are looked up by request id when they come due; by then the id
// may name a newer request, which must not inherit them.
TEST(SchedulerCoreRegressionTest, AReusedIdInheritsNoCancelOrDeadline) {
  FakeEngineOptions o;
  o.eos_probability = 0;
  FakeEngine engine(o);
  ManualClock clock;
  SchedulerCore core(engine, nullptr, clock, {});
  auto run = [&](GenerateRequest r, int steps, absl::Duration tick) {
    auto sink = std::make_shared<QueueSink>();
    EXPECT_TRUE(core.Add(std::move(r), sink).ok());
    for (int i = 0; i < steps && !core.idle(); ++i) {
      EXPECT_TRUE(core.Step().ok());
      clock.Advance(tick);
    }
    CollectedRequest c;
    while (auto u = sink->Next(absl::ZeroDuration())) c.Add(*u);
    return c;
  };
  // "a" with a 1 s timeout finishes at once; a new "a" without one outlives that second.
  GenerateRequest a = Request("a", 4, 1, 1);
  a.timeout = absl::Seconds(1);
  ASSERT_TRUE(run(a, 10, absl::Milliseconds(10)).status.ok());
  CollectedRequest a2 = run(Request("a", 4, 1, 5), 10, absl::Seconds(1));
  EXPECT_TRUE(a2.finished && a2.status.ok()) << a2.status;
  EXPECT_EQ(a2.samples.at(0).token_ids.size(), 5u);
  // "b" is cancelled, then everything is aborted (shutdown) before a step; a new "b" runs.
  auto sink = std::make_shared<QueueSink>();
  ASSERT_TRUE(core.Add(Request("b", 4, 1, 3), sink).ok());
  ASSERT_TRUE(core.Cancel("b"));
  core.AbortAll(absl::UnavailableError("shutting down"));
  ASSERT_TRUE(core.idle());
  CollectedRequest b2 = run(Request("b", 4, 1, 3), 10, absl::Milliseconds(10));
  EXPECT_TRUE(b2.finished && b2.status.ok()) << b2.status;
}

}  // namespace
}  // namespace tessera
