// The parts of bench/slo_sim: the issue's mix and its targets, and runs of the real scheduler
// over the cost-model engine (every prompt token computed, virtual time as the model says).
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "bench/slo_sim_run.h"
#include "scheduler/cost_models.h"

namespace tessera {
namespace {

TEST(SloSimWorkloadTest, IssueMixHasItsLengthsAndDistinctCacheSalts) {
  const std::vector<SimClass> classes = IssueClasses(H100Llama3_8bCostModel());
  const std::vector<SimArrival> arrivals = SimWorkload(classes, {{"t", 10}}, 400, 1);
  ASSERT_EQ(arrivals.size(), 400u);
  std::set<std::string> salts;
  int chats = 0;
  for (const SimArrival& a : arrivals) {
    const SimClass& c = a.cls == "chat" ? classes[0] : classes[1];
    const auto len = static_cast<int64_t>(a.request.prompt_token_ids.size());
    EXPECT_GE(len, c.prompt_min);
    EXPECT_LE(len, c.prompt_max);
    EXPECT_GE(a.request.max_tokens, c.output_min);
    EXPECT_LE(a.request.max_tokens, c.output_max);
    salts.insert(a.request.cache_salt);
    chats += a.cls == "chat";
  }
  EXPECT_EQ(salts.size(), arrivals.size());
  EXPECT_NEAR(chats / 400.0, 0.8, 0.06);
}

// The mix shares no prefix: every prompt token is computed by the engine, none comes from the
// prefix cache (the filler prompts are identical, so a cache shared between requests would serve
// almost all of them).
TEST(SloSimTest, EveryPromptTokenIsPrefilled) {
  const StepTimeCoefficients cost = H100Llama3_8bCostModel();
  const std::vector<SimArrival> arrivals = SimWorkload(IssueClasses(cost), {{"t", 20}}, 60, 3);
  int64_t prompt_tokens = 0;
  for (const SimArrival& a : arrivals) {
    prompt_tokens += static_cast<int64_t>(a.request.prompt_token_ids.size());
  }
  for (const SchedulingPolicyKind kind :
       {SchedulingPolicyKind::kFcfs, SchedulingPolicyKind::kSlo}) {
    SchedulerOptions o;
    o.scheduling_policy = kind;
    o.max_num_batched_tokens = 8192;
    double elapsed = 0;
    SimStepStats steps;
    const std::vector<SimOutcome> outcomes = Simulate(arrivals, o, cost, &elapsed, &steps);
    EXPECT_EQ(steps.prefill_tokens, prompt_tokens);
    for (const SimOutcome& out : outcomes) EXPECT_TRUE(out.finished);
    EXPECT_GT(elapsed, arrivals.back().at);
  }
}

TEST(SloSimTest, SummaryCountsAttainmentAndGoodput) {
  std::vector<SimOutcome> outcomes(4);
  outcomes[0] = {"chat", "a", true, true, true, true, 0.01, 0.005, 0};
  outcomes[1] = {"chat", "b", true, false, false, true, 0.2, 0.005, 0.1};
  outcomes[2] = {"doc", "a", true, true, true, true, 0.05, 0.006, 0};
  outcomes[3] = {"doc", "a", true, false, true, false, 0.05, 0.05, 0};
  const SimSummary all = Summarize(outcomes, 2.0);
  EXPECT_DOUBLE_EQ(all.attainment, 0.5);
  EXPECT_DOUBLE_EQ(all.goodput, 1.0);
  const SimSummary b = Summarize(outcomes, 2.0, "b");
  EXPECT_DOUBLE_EQ(b.attainment, 0.0);
  EXPECT_NEAR(b.ttft_p99.at("chat"), 0.2, 1e-12);
}

}  // namespace
}  // namespace tessera
