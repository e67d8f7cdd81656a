// The slo policy alone, with a known step-time model: the budget keeps the tightest TPOT target
// (and is the largest that does), admission is earliest deadline first with lost causes after
// feasible requests, VTC picks the tenant with the least service, victims are batch then the
// most slack, and reject_if_slo_unattainable refuses through the core with the predicted wait.
#include "scheduler/slo_policy.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/clock.h"
#include "scheduler/scheduler_core.h"
#include "tests/scheduler/fake_engine.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

const absl::Time kT0 = absl::UnixEpoch() + absl::Hours(1);

class Sequences {
 public:
  // A request's one sequence: `prompt` tokens of which `computed` are cached, `output` tokens
  // generated (output > 0 and computed == prompt + output - 1: decoding).
  Sequence* Make(absl::Time arrival, std::optional<absl::Duration> ttft,
                 std::optional<absl::Duration> tpot = std::nullopt, int64_t prompt = 10,
                 std::string tenant = "a", Priority priority = Priority::kInteractive) {
    auto r = std::make_unique<RequestState>();
    r->request.id = std::to_string(requests_.size());
    r->request.tenant = std::move(tenant);
    r->request.priority = priority;
    r->request.ttft_target = ttft;
    r->request.tpot_target = tpot;
    r->request.prompt_token_ids.assign(static_cast<size_t>(prompt), 5);
    r->arrival = arrival;
    auto seq = std::make_unique<Sequence>();
    seq->request = r.get();
    seq->admit_order = static_cast<int64_t>(requests_.size());
    r->seqs.push_back(std::move(seq));
    requests_.push_back(std::move(r));
    return requests_.back()->seqs.back().get();
  }
  // Makes `seq` a decode at context `context` (prompt computed, one output token to feed).
  static void Decoding(Sequence* seq) {
    seq->output = {7};
    seq->num_computed = seq->prompt_len();
  }

 private:
  std::vector<std::unique_ptr<RequestState>> requests_;
};

// 2 ms a step, 1 ms per prefill token, 0.5 ms per decode.
StepTimeModel Model() {
  StepTimeModel::Options o;
  o.prior.constant = 2e-3;
  o.prior.per_prefill_token = 1e-3;
  o.prior.per_decode_sequence = 5e-4;
  return *StepTimeModel::Create(o);
}

SchedulerOptions Options() {
  SchedulerOptions o;
  o.scheduling_policy = SchedulingPolicyKind::kSlo;
  o.max_num_batched_tokens = 512;
  return o;
}

TEST(SloPolicyTest, BudgetKeepsTheTightestTpotTargetAndIsTheLargestThatDoes) {
  const StepTimeModel model = Model();
  SloPolicy p(Options(), &model, nullptr);
  Sequences s;
  Sequence* a = s.Make(kT0, std::nullopt, absl::Milliseconds(50));
  Sequence* b = s.Make(kT0, std::nullopt, absl::Microseconds(20500));
  Sequence* c = s.Make(kT0, std::nullopt);  // prefilling: no decode, its target does not count
  Sequences::Decoding(a);
  Sequences::Decoding(b);
  std::vector<Sequence*> running = {a, b, c};
  // 2 decodes: 2 + 1 = 3 ms; the 20.5 ms target leaves 17.5 ms: 17 prefill tokens.
  const int64_t budget = p.TokenBudget(running, kT0);
  EXPECT_EQ(budget, 2 + 17);
  StepShape shape;
  shape.decode_sequences = 2;
  shape.prefill_tokens = budget - 2;
  EXPECT_LE(model.Predict(shape), 0.0205);
  ++shape.prefill_tokens;
  EXPECT_GT(model.Predict(shape), 0.0205);
  // No decode with a target: the whole max_num_batched_tokens.
  EXPECT_EQ(p.TokenBudget({c}, kT0), 512);
  // A target the decodes alone miss: just the decodes.
  Sequence* tight = s.Make(kT0, std::nullopt, absl::Milliseconds(1));
  Sequences::Decoding(tight);
  EXPECT_EQ(p.TokenBudget({a, b, tight}, kT0), 3);
}

TEST(SloPolicyTest, EarliestDeadlineFirstAndLostCausesLast) {
  const StepTimeModel model = Model();
  SloPolicy p(Options(), &model, nullptr);
  Sequences s;
  // Prefill of 10 tokens: 12 ms predicted.
  Sequence* loose = s.Make(kT0, absl::Milliseconds(900));
  Sequence* tight = s.Make(kT0 + absl::Milliseconds(5), absl::Milliseconds(100));
  Sequence* lost = s.Make(kT0, absl::Milliseconds(5));  // 12 ms > 5 ms: cannot make it
  Sequence* best_effort = s.Make(kT0 - absl::Seconds(40), std::nullopt);  // 30 s deadline passed
  for (Sequence* q : {loose, tight, lost, best_effort}) p.Enqueue(q, kT0);
  const absl::Time now = kT0 + absl::Milliseconds(10);
  std::vector<Sequence*> order;
  while (Sequence* q = p.Next(now)) {
    order.push_back(q);
    p.PopNext(now);
  }
  // The best-effort request's deadline (arrival + 30 s) is the earliest; then 105 ms, 900 ms;
  // the lost cause last.
  EXPECT_EQ(order, (std::vector<Sequence*>{best_effort, tight, loose, lost}));
}

TEST(SloPolicyTest, FairnessAdmitsTheTenantWithTheLeastService) {
  const StepTimeModel model = Model();
  VtcFairness fairness;
  SloPolicy p(Options(), &model, &fairness);
  Sequences s;
  // Both tenants backlogged from the start; a's requests have the earlier deadlines.
  Sequence* a1 = s.Make(kT0, absl::Milliseconds(100), std::nullopt, 10, "a");
  Sequence* a2 = s.Make(kT0, absl::Milliseconds(200), std::nullopt, 10, "a");
  Sequence* b1 = s.Make(kT0, absl::Milliseconds(500), std::nullopt, 10, "b");
  for (Sequence* q : {a1, a2, b1}) p.Enqueue(q, kT0);
  EXPECT_EQ(p.Next(kT0), a1);  // equal service: the earliest deadline
  p.PopNext(kT0);              // a is charged its prompt
  for (int i = 0; i < 5; ++i) p.OnTokenGenerated(*a1);
  EXPECT_GT(fairness.Counter("a"), fairness.Counter("b"));
  EXPECT_EQ(p.Next(kT0), b1);  // b has had less, despite a2's earlier deadline
  // Without fairness the earlier deadline wins.
  SloPolicy unfair(Options(), &model, nullptr);
  unfair.Enqueue(a2, kT0);
  unfair.Enqueue(b1, kT0);
  EXPECT_EQ(unfair.Next(kT0), a2);
  // A tenant back from idle is lifted to the least active counter: no banked credit.
  p.PopNext(kT0);  // b1
  p.PopNext(kT0);  // a2; nobody waits now
  Sequence* c1 = s.Make(kT0, absl::Milliseconds(100), std::nullopt, 10, "c");
  Sequence* a3 = s.Make(kT0, absl::Milliseconds(900), std::nullopt, 10, "a");
  p.Enqueue(a3, kT0);
  p.Enqueue(c1, kT0);
  EXPECT_EQ(fairness.Counter("c"), fairness.Counter("a"));
}

TEST(SloPolicyTest, VictimsAreBatchThenTheMostSlackThenTheNewest) {
  const StepTimeModel model = Model();
  SloPolicy p(Options(), &model, nullptr);
  Sequences s;
  Sequence* urgent = s.Make(kT0, absl::Milliseconds(50));
  Sequence* relaxed = s.Make(kT0, absl::Milliseconds(5000));
  Sequence* batch = s.Make(kT0, absl::Milliseconds(10), std::nullopt, 10, "a", Priority::kBatch);
  EXPECT_EQ(p.ChooseVictim({urgent, relaxed, batch}, kT0), batch);
  EXPECT_EQ(p.ChooseVictim({urgent, relaxed}, kT0), relaxed);
  // An interactive head may preempt only batch work.
  EXPECT_EQ(p.ChooseVictimFor(*urgent, {relaxed, batch}, kT0), batch);
  EXPECT_EQ(p.ChooseVictimFor(*urgent, {relaxed}, kT0), nullptr);
  EXPECT_FALSE(p.MayPreemptFor(*batch, kT0));
}

TEST(SloPolicyTest, DecodesAreFedBeforePrefillsWhichGoByDeadline) {
  const StepTimeModel model = Model();
  SloPolicy p(Options(), &model, nullptr);
  Sequences s;
  Sequence* late = s.Make(kT0, absl::Milliseconds(900));
  Sequence* soon = s.Make(kT0, absl::Milliseconds(100));
  Sequence* decode = s.Make(kT0, std::nullopt, absl::Milliseconds(30));
  Sequences::Decoding(decode);
  std::vector<Sequence*> order;
  p.OrderRunning(std::vector<Sequence*>{late, soon, decode}, kT0, &order);
  EXPECT_EQ(order, (std::vector<Sequence*>{decode, soon, late}));
}

TEST(SloPolicyTest, RejectIfUnattainableRefusesWithThePredictedWait) {
  SchedulerOptions o = Options();
  o.step_time_prior.constant = 2e-3;
  o.step_time_prior.per_prefill_token = 1e-3;
  testing::FakeEngine engine(testing::FakeEngineOptions{});
  ManualClock clock(kT0);
  SchedulerCore core(engine, nullptr, clock, o);
  GenerateRequest r;
  r.id = "hopeless";
  r.prompt_token_ids.assign(100, 5);  // 102 ms predicted
  r.max_tokens = 2;
  r.ttft_target = absl::Milliseconds(20);
  r.reject_if_slo_unattainable = true;
  absl::Status refused = core.Add(r, nullptr);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.message(), HasSubstr("the predicted wait is 102ms"));
  // Without the flag it is queued (and served, late); a target it can meet is admitted too.
  r.reject_if_slo_unattainable = false;
  r.id = "late";
  EXPECT_TRUE(core.Add(r, nullptr).ok());
  r.reject_if_slo_unattainable = true;
  r.ttft_target = absl::Seconds(1);
  r.id = "fine";
  EXPECT_TRUE(core.Add(r, nullptr).ok());
}

}  // namespace
}  // namespace tessera
