// The parts of bench/slo_sim: the issue's mix and its targets, and runs of the real scheduler
// over the cost-model engine (every prompt token computed, virtual time as the model says).
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "bench/slo_sim_bound.h"
#include "bench/slo_sim_hindsight.h"
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

SimArrival Arrival(double at, int prompt, int outputs, double ttft, double tpot) {
  SimArrival a;
  a.at = at;
  a.request.prompt_token_ids.assign(static_cast<size_t>(prompt), 5);
  a.request.max_tokens = outputs;
  a.request.ttft_target = absl::Seconds(ttft);
  a.request.tpot_target = absl::Seconds(tpot);
  return a;
}

// Three requests whose windows [arrival, arrival + TTFT + (k - 1) TPOT] are [0, 2], [1, 3] and
// [2.5, 4]: the first and the last are disjoint and need 3 + 5 steps; the middle one overlaps
// both. Per-token work by hand: prompts 4, 2, 1 (attention 10, 3, 1 positions); decodes 2, 1, 4
// (attention 4+1 + 4+2 = 11, 2+1 = 3, 4 x 1 + 1+2+3+4 = 14).
TEST(SloSimBoundTest, SumsTokenWorkAndCountsStepsOverDisjointWindows) {
  StepTimeCoefficients cost;
  cost.constant = 1;
  cost.per_prefill_token = 0.1;
  cost.per_decode_sequence = 0.01;
  cost.per_attended_token = 0.001;
  const WorkBound b = MinimumWork(
      {Arrival(0, 4, 3, 1, 0.5), Arrival(1, 2, 2, 1, 1), Arrival(2.5, 1, 5, 0.5, 0.25)}, cost);
  EXPECT_NEAR(b.prefill_seconds, 0.1 * 7 + 0.001 * 14, 1e-12);
  EXPECT_NEAR(b.decode_seconds, 0.01 * 7 + 0.001 * 28, 1e-12);
  EXPECT_EQ(b.min_steps, 8);
  EXPECT_NEAR(b.step_seconds, 8.0, 1e-12);
  EXPECT_DOUBLE_EQ(b.begin, 0);
  EXPECT_DOUBLE_EQ(b.end, 4);
  EXPECT_NEAR(b.load(), (0.714 + 0.098 + 8) / 4, 1e-12);
}

// No schedule meets every target of a workload whose bound exceeds the time it has: the slo
// policy's attainment there is below 100%, and well above it (a light load) the bound is small.
TEST(SloSimBoundTest, BoundAboveOneMeansMisses) {
  const StepTimeCoefficients cost = H100Llama3_8bCostModel();
  const std::vector<SimClass> classes = IssueClasses(cost);
  const std::vector<SimArrival> heavy = SimWorkload(classes, {{"t", 120}}, 600, 4);
  const WorkBound b = MinimumWork(heavy, cost);
  ASSERT_GT(b.load(), 1.0);
  SchedulerOptions o;
  o.scheduling_policy = SchedulingPolicyKind::kSlo;
  o.max_num_batched_tokens = 8192;
  double elapsed = 0;
  EXPECT_LT(Summarize(Simulate(heavy, o, cost, &elapsed), elapsed).attainment, 1.0);
  EXPECT_LT(MinimumWork(SimWorkload(classes, {{"t", 2}}, 300, 4), cost).load(), 0.4);
}

// The hindsight search ends with every request it keeps meeting both targets (a rerun of just
// those confirms it), refuses some only where the policy alone misses, and meets at least as many
// as the policy alone.
TEST(SloSimHindsightTest, KeptRequestsAllMeetTheirTargetsAndNoFewerThanThePolicyAlone) {
  const StepTimeCoefficients cost = H100Llama3_8bCostModel();
  const std::vector<SimClass> classes = IssueClasses(cost);
  SchedulerOptions o;
  o.scheduling_policy = SchedulingPolicyKind::kSlo;
  o.max_num_batched_tokens = 8192;
  const std::vector<SimArrival> heavy = SimWorkload(classes, {{"t", 60}}, 300, 5);
  double elapsed = 0;
  const std::vector<SimOutcome> alone = Simulate(heavy, o, cost, &elapsed);
  int64_t met_alone = 0;
  for (const SimOutcome& out : alone) met_alone += out.met_both;
  ASSERT_LT(met_alone, 300);  // the load makes it miss some
  const HindsightResult h = HindsightAdmission(heavy, o, cost);
  EXPECT_TRUE(h.converged);
  EXPECT_EQ(h.total, 300);
  EXPECT_GT(h.refused, 0);
  EXPECT_EQ(h.met + h.refused, h.total);
  EXPECT_GE(h.met, met_alone);
  // Where the policy alone meets every target: nothing to refuse, one run.
  const std::vector<SimArrival> light = SimWorkload(classes, {{"t", 0.5}}, 50, 5);
  for (const SimOutcome& out : Simulate(light, o, cost, &elapsed)) ASSERT_TRUE(out.met_both);
  const HindsightResult easy = HindsightAdmission(light, o, cost);
  EXPECT_EQ(easy.refused, 0);
  EXPECT_EQ(easy.met, 50);
  EXPECT_EQ(easy.runs, 1);
}

}  // namespace
}  // namespace tessera
