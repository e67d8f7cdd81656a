// Scheduler bugs that the property tests found, each as the smallest workload that showed it,
// run through the same simulation and checks.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/scheduler/scheduler_simulation.h"

namespace tessera {
namespace {

using ::tessera::testing::Arrival;
using ::tessera::testing::Simulation;
using ::tessera::testing::SimulationConfig;

GenerateRequest Request(std::string id, int32_t prompt_len, int32_t n, int32_t max_tokens) {
  GenerateRequest r;
  r.id = std::move(id);
  for (int32_t i = 0; i < prompt_len; ++i) r.prompt_token_ids.push_back(10 + i);
  r.n = n;
  r.max_tokens = max_tokens;
  r.sampling.temperature = 1.0f;
  r.sampling.seed = 1234;
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

}  // namespace
}  // namespace tessera
