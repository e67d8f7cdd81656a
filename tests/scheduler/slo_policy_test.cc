// The slo policy alone, with a known step-time model: the budget keeps the tightest TPOT target
// (and is the largest that does), admission is earliest deadline first with lost causes after
// feasible requests, VTC picks the tenant with the least service, victims are batch then the
// most slack, and reject_if_slo_unattainable refuses through the core with the predicted wait.
// Then the rules that bench/slo_sim --diagnose led to: decodes that missed their TTFT no longer
// limit the budget, steps stay within half the tightest recent TTFT target, lost causes are
// decided by the finishing-time layout (Moore-Hodgson), and an adapter that must be loaded adds
// its load time; the per-tenant waiting sets admit in the same order as a scan would.
#include "scheduler/slo_policy.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
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
  // Makes `seq`'s request one that got its first token at `at`.
  static void FirstTokenAt(Sequence* seq, absl::Time at) {
    Decoding(seq);
    seq->request->first_token = at;
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

TEST(SloPolicyTest, TheBudgetKeepsTheModelsUsualErrorInReserve) {
  StepTimeModel model = Model();
  SloPolicy p(Options(), &model, nullptr);
  Sequences s;
  Sequence* a = s.Make(kT0, std::nullopt, absl::Milliseconds(20));
  Sequences::Decoding(a);
  // Exact so far: 2 + 0.5 ms leave 17 prefill tokens in 20 ms.
  EXPECT_EQ(p.TokenBudget({a}, kT0), 1 + 17);
  // Steps 10% over and under the prediction, alternately: 20% of a limit is kept in reserve.
  StepShape shape;
  shape.decode_sequences = 1;
  for (int i = 0; i < 1000; ++i) {
    const double predicted = model.Predict(shape);
    ASSERT_TRUE(model.Observe(shape, predicted * (i % 2 == 0 ? 1.1 : 0.9)).ok());
  }
  const double margin = model.error().Margin();
  ASSERT_NEAR(margin, 0.2, 0.02);
  const int64_t budget = p.TokenBudget({a}, kT0);
  shape.prefill_tokens = budget - 1;
  shape.attended_tokens = StepShape::AttendedByChunk(0, shape.prefill_tokens);
  EXPECT_LE(model.Predict(shape) * (1 + margin), 0.020);
  ++shape.prefill_tokens;
  shape.attended_tokens = StepShape::AttendedByChunk(0, shape.prefill_tokens);
  EXPECT_GT(model.Predict(shape) * (1 + margin), 0.020);
  EXPECT_LT(budget, 1 + 17);
}

TEST(SloPolicyTest, AdmissionStopsWhereTheRunningCouldNoLongerDecodeWithinTheirTpot) {
  const StepTimeModel model = Model();
  SloPolicy p(Options(), &model, nullptr);
  Sequences s;
  // 2 ms + 0.5 ms per decode: 16 decodes take the 10 ms target exactly.
  std::vector<Sequence*> running;
  for (int i = 0; i < 15; ++i) {
    running.push_back(s.Make(kT0, std::nullopt, absl::Milliseconds(10)));
    Sequences::Decoding(running.back());
  }
  p.TokenBudget(running, kT0);
  Sequence* plain = s.Make(kT0, std::nullopt);  // no target of its own
  EXPECT_TRUE(p.MayAdmit(*plain, 15));          // the 16th
  EXPECT_FALSE(p.MayAdmit(*plain, 16));         // a 17th would make every step 10.5 ms
  // Its own tighter target counts: 5 ms fits 6 decodes.
  Sequence* tight = s.Make(kT0, absl::Seconds(1), absl::Milliseconds(5));
  EXPECT_FALSE(p.MayAdmit(*tight, 6));
  EXPECT_TRUE(p.MayAdmit(*tight, 5));
  // ...unless its TTFT target has passed: it cannot meet both anyway.
  Sequence* late = s.Make(kT0 - absl::Seconds(2), absl::Seconds(1), absl::Milliseconds(5));
  EXPECT_TRUE(p.MayAdmit(*late, 6));
  // The first one always may, whatever its target.
  Sequence* impossible = s.Make(kT0, std::nullopt, absl::Milliseconds(1));
  EXPECT_FALSE(p.MayAdmit(*impossible, 1));
  EXPECT_TRUE(p.MayAdmit(*impossible, 0));
  // Running requests past their TTFT target limit nothing: without them, no limit at all.
  std::vector<Sequence*> missed;
  for (int i = 0; i < 20; ++i) {
    missed.push_back(s.Make(kT0, absl::Milliseconds(100), absl::Milliseconds(10)));
    Sequences::FirstTokenAt(missed.back(), kT0 + absl::Milliseconds(200));
  }
  p.TokenBudget(missed, kT0 + absl::Milliseconds(300));
  EXPECT_TRUE(p.MayAdmit(*plain, 100));
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
  // A quantum more: b has had less, despite a2's earlier deadline.
  for (int i = 0; i < SloPolicy::kServiceQuantum / 2; ++i) p.OnTokenGenerated(*a1);
  EXPECT_GT(fairness.Counter("a"), fairness.Counter("b") + SloPolicy::kServiceQuantum);
  EXPECT_EQ(p.Next(kT0), b1);
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

// A running prefill that can no longer meet its TTFT target (its deadline, being past, is the
// earliest) yields to those that still can: it is fed after them, and a waiting request that
// can still make its target is admitted ahead of it. Found by slo_sim --diagnose: lost documents
// that were already prefilling took every step's budget from chats that arrived after them.
TEST(SloPolicyTest, ARunningPrefillThatIsLostGoesAfterFeasibleOnes) {
  const StepTimeModel model = Model();
  SloPolicy p(Options(), &model, nullptr);
  Sequences s;
  // 10-token prompts: 12 ms alone. `lost` arrived 100 ms ago with a 50 ms target.
  Sequence* lost = s.Make(kT0 - absl::Milliseconds(100), absl::Milliseconds(50));
  Sequence* feasible = s.Make(kT0, absl::Milliseconds(900));
  Sequence* waiting = s.Make(kT0, absl::Milliseconds(500));
  Sequence* waiting_lost = s.Make(kT0 - absl::Milliseconds(200), absl::Milliseconds(60));
  ASSERT_TRUE(p.IsLostCause(*lost, kT0));
  ASSERT_FALSE(p.IsLostCause(*feasible, kT0));
  std::vector<Sequence*> order;
  p.OrderRunning(std::vector<Sequence*>{lost, feasible}, kT0, &order);
  EXPECT_EQ(order, (std::vector<Sequence*>{feasible, lost}));
  EXPECT_TRUE(p.RanksAhead(*waiting, *lost, kT0));
  EXPECT_TRUE(p.RanksAhead(*waiting, *feasible, kT0));
  // A lost waiting request does not go ahead of anything, lost or not.
  EXPECT_FALSE(p.RanksAhead(*waiting_lost, *lost, kT0));
  EXPECT_FALSE(p.RanksAhead(*waiting_lost, *feasible, kT0));
}

// Under fairness, running prefills are ordered as admission ranks waiting requests: the tenant
// with less service first, lost or not. Found by slo_sim --fairness-test: a well-behaved
// tenant's chat that had become a lost cause waited behind the documents a noisy tenant had been
// admitted earlier, chunk after chunk.
TEST(SloPolicyTest, UnderFairnessPrefillsOfTheLessServedTenantGoFirst) {
  const StepTimeModel model = Model();
  VtcFairness fairness;
  SloPolicy p(Options(), &model, &fairness);
  ASSERT_TRUE(fairness.ChargeInput("noisy", 5000).ok());
  ASSERT_TRUE(fairness.ChargeInput("good", 100).ok());
  Sequences s;
  // noisy's document arrived first and can still make its target; good's chat cannot.
  Sequence* doc =
      s.Make(kT0 - absl::Milliseconds(10), absl::Milliseconds(200), std::nullopt, 100, "noisy");
  Sequence* chat =
      s.Make(kT0 - absl::Milliseconds(50), absl::Milliseconds(40), std::nullopt, 10, "good");
  Sequence* waiting =
      s.Make(kT0 - absl::Milliseconds(50), absl::Milliseconds(40), std::nullopt, 10, "good");
  ASSERT_TRUE(p.IsLostCause(*chat, kT0));
  ASSERT_FALSE(p.IsLostCause(*doc, kT0));
  std::vector<Sequence*> order;
  p.OrderRunning(std::vector<Sequence*>{doc, chat}, kT0, &order);
  EXPECT_EQ(order, (std::vector<Sequence*>{chat, doc}));
  EXPECT_TRUE(p.RanksAhead(*waiting, *doc, kT0));
  // The other way round, noisy's waiting request does not go ahead of good's running one.
  Sequence* noisy_waiting = s.Make(kT0, absl::Milliseconds(20), std::nullopt, 10, "noisy");
  EXPECT_FALSE(p.RanksAhead(*noisy_waiting, *chat, kT0));
  // Without fairness, the lost chat goes after the document that can still make it.
  SloPolicy unfair(Options(), &model, nullptr);
  unfair.OrderRunning(std::vector<Sequence*>{doc, chat}, kT0, &order);
  EXPECT_EQ(order, (std::vector<Sequence*>{doc, chat}));
  EXPECT_FALSE(unfair.RanksAhead(*waiting, *doc, kT0));
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

TEST(SloPolicyTest, DecodesThatMissedTheirTtftDoNotLimitTheBudget) {
  const StepTimeModel model = Model();
  SloPolicy p(Options(), &model, nullptr);
  Sequences s;
  // Both decode with a 20.5 ms TPOT target; `missed` got its first token 200 ms after arrival,
  // past its 100 ms TTFT target, so it cannot meet both whatever the step does.
  Sequence* missed = s.Make(kT0, absl::Milliseconds(100), absl::Microseconds(20500));
  Sequences::FirstTokenAt(missed, kT0 + absl::Milliseconds(200));
  Sequence* met =
      s.Make(kT0 + absl::Milliseconds(150), absl::Milliseconds(100), absl::Microseconds(20500));
  Sequences::FirstTokenAt(met, kT0 + absl::Milliseconds(200));
  const absl::Time now = kT0 + absl::Milliseconds(200);
  EXPECT_EQ(p.TokenBudget({missed}, now), 512);
  // 2 decodes: 3 ms; the target of the one that still can leaves 17 prefill tokens.
  EXPECT_EQ(p.TokenBudget({missed, met}, now), 2 + 17);
}

TEST(SloPolicyTest, StepsStayWithinHalfTheTightestRecentTtftTarget) {
  const StepTimeModel model = Model();
  SloPolicy p(Options(), &model, nullptr);
  Sequences s;
  Sequence* decode = s.Make(kT0, std::nullopt);  // no TPOT target: no limit of its own
  Sequences::Decoding(decode);
  EXPECT_EQ(p.TokenBudget({decode}, kT0), 512);
  // A request with a 40 ms TTFT target arrives: a step may take 20 ms, so that one arriving
  // just after it began is fed in the next and still makes 40 ms. 2 + 0.5 ms: 17 prefill tokens.
  Sequence* chat = s.Make(kT0, absl::Milliseconds(40));
  p.Enqueue(chat, kT0);
  p.PopNext(kT0);
  EXPECT_EQ(p.TokenBudget({decode}, kT0 + absl::Seconds(1)), 1 + 17);
  // It counts for 10 s after that arrival.
  EXPECT_EQ(p.TokenBudget({decode}, kT0 + absl::Seconds(11)), 512);
  // A target that not even the decodes fit in twice still leaves one prefill token (the steps
  // must go on).
  Sequence* tiny = s.Make(kT0 + absl::Seconds(20), absl::Milliseconds(2));
  p.Enqueue(tiny, kT0 + absl::Seconds(20));
  EXPECT_EQ(p.TokenBudget({decode}, kT0 + absl::Seconds(20)), 1 + 1);
}

TEST(SloPolicyTest, UrgentPromptsAreFedWholeInAStepThatEndsByTheirDeadlines) {
  const StepTimeModel model = Model();
  SloPolicy p(Options(), &model, nullptr);
  Sequences s;
  // One decode with a 30 ms TPOT target; chats with a 40 ms TTFT target prefer 20 ms steps:
  // 2 + 0.5 + 17 prefill tokens.
  Sequence* decode = s.Make(kT0, std::nullopt, absl::Milliseconds(30));
  Sequences::Decoding(decode);
  const absl::Time now = kT0 + absl::Milliseconds(5);
  Sequence* a = s.Make(kT0, absl::Milliseconds(40));
  Sequence* b = s.Make(kT0 + absl::Milliseconds(1), absl::Milliseconds(40));
  Sequence* later = s.Make(now, absl::Milliseconds(100));  // deadline past two steps: waits
  for (Sequence* q : {a, b, later}) p.Enqueue(q, now);
  // Both chats (20 tokens) in one step: 22.5 ms, within the TPOT target and before their
  // deadlines (35 and 36 ms from now). Split over two steps, the second would finish at 40 ms.
  EXPECT_EQ(p.TokenBudget({decode}, now), 1 + 20);
  // A deadline 15 ms away, which the preferred step (19.5 ms) would pass: the step feeds that
  // chat (10 tokens; the others do not fit with it) and shrinks to end by its deadline:
  // 2.5 + 12 = 14.5 ms.
  Sequence* near = s.Make(kT0 - absl::Milliseconds(20), absl::Milliseconds(40));
  p.Enqueue(near, now);
  EXPECT_EQ(p.TokenBudget({decode}, now), 1 + 12);
  ASSERT_TRUE(p.Remove(near));
  // A TPOT target the longer step would break: the preferred step, the first chat in it.
  Sequence* tight = s.Make(kT0, std::nullopt, absl::Milliseconds(21));
  Sequences::Decoding(tight);
  EXPECT_EQ(p.TokenBudget({decode, tight}, now), 2 + 16);
  // A lost cause (its prompt alone takes past its deadline) is not urgent: it does not stop the
  // others from being fed whole.
  Sequence* lost = s.Make(kT0 - absl::Milliseconds(30), absl::Milliseconds(40), std::nullopt, 50);
  p.Enqueue(lost, now);
  EXPECT_EQ(p.TokenBudget({decode}, now), 1 + 20);
}

TEST(SloPolicyTest, ALongPromptThatWouldMakeShortOnesLateIsGivenUp) {
  const StepTimeModel model = Model();
  SchedulerOptions o = Options();
  o.max_num_batched_tokens = 20;  // steps of 20 prefill tokens: 22 ms each
  SloPolicy p(o, &model, nullptr);
  Sequences s;
  // Alone, each makes its deadline (the document's 60 tokens: 3 steps, 66 ms of 70). In
  // deadline order the document goes first and the chats after it would finish in steps 4 and
  // 5 (88, 110 ms), past their 80 ms; given up, it lets all three chats make it.
  Sequence* doc = s.Make(kT0, absl::Milliseconds(70), std::nullopt, 60);
  Sequence* c1 = s.Make(kT0, absl::Milliseconds(80));
  Sequence* c2 = s.Make(kT0, absl::Milliseconds(80));
  Sequence* c3 = s.Make(kT0, absl::Milliseconds(80));
  for (Sequence* q : {doc, c1, c2, c3}) p.Enqueue(q, kT0);
  EXPECT_FALSE(p.IsLostCause(*doc, kT0));  // before a step is sized, nothing is laid out
  EXPECT_EQ(p.TokenBudget({}, kT0), 20);
  EXPECT_TRUE(p.IsLostCause(*doc, kT0));
  for (Sequence* c : {c1, c2, c3}) EXPECT_FALSE(p.IsLostCause(*c, kT0));
  std::vector<Sequence*> order;
  while (Sequence* q = p.Next(kT0)) {
    order.push_back(q);
    p.PopNext(kT0);
  }
  EXPECT_EQ(order, (std::vector<Sequence*>{c1, c2, c3, doc}));
}

// Between equal prompts the layout gives up the later deadline, whatever the sequences'
// addresses: the heap broke ties by pointer, so which one was given up (and every figure of
// slo_sim --fairness-test after it) changed from run to run.
TEST(SloPolicyTest, TheLayoutBreaksTiesByDeadlineNotByAddress) {
  const StepTimeModel model = Model();
  SchedulerOptions o = Options();
  o.max_num_batched_tokens = 20;  // steps of 20 prefill tokens: 22 ms each
  SloPolicy p(o, &model, nullptr);
  Sequences s;
  std::vector<Sequence*> same;
  for (int i = 0; i < 3; ++i) same.push_back(s.Make(kT0, std::nullopt, std::nullopt, 20));
  // Deadlines 45, 46 and 50 ms from the highest address down, so that a tie by pointer would
  // give up the first; steps 1, 2 and 3 end at 22, 44 and 66 ms: the third is late.
  std::sort(same.begin(), same.end(), std::greater<Sequence*>());
  same[0]->request->request.ttft_target = absl::Milliseconds(45);
  same[1]->request->request.ttft_target = absl::Milliseconds(46);
  same[2]->request->request.ttft_target = absl::Milliseconds(50);
  for (Sequence* q : same) p.Enqueue(q, kT0);
  EXPECT_EQ(p.TokenBudget({}, kT0), 20);
  EXPECT_FALSE(p.IsLostCause(*same[0], kT0));
  EXPECT_FALSE(p.IsLostCause(*same[1], kT0));
  EXPECT_TRUE(p.IsLostCause(*same[2], kT0));
}

TEST(SloPolicyTest, AnAdapterThatMustBeLoadedAddsItsLoadTime) {
  const StepTimeModel model = Model();
  SloPolicy p(Options(), &model, nullptr);
  absl::Duration load = absl::Milliseconds(50);
  p.SetAdapterLoadTime([&](const AdapterRef&) { return load; });
  Sequences s;
  auto adapter = std::make_shared<AdapterRef>();
  adapter->name = "sql";
  // 10 prompt tokens: 12 ms; with the 50 ms load 62 ms, past the 60 ms target.
  Sequence* with_adapter = s.Make(kT0, absl::Milliseconds(60));
  with_adapter->request->request.adapter = adapter;
  Sequence* plain = s.Make(kT0, absl::Milliseconds(100));
  EXPECT_DOUBLE_EQ(p.PrefillSeconds(*with_adapter), 0.012 + 0.050);
  EXPECT_TRUE(p.IsLostCause(*with_adapter, kT0));
  p.Enqueue(with_adapter, kT0);
  p.Enqueue(plain, kT0);
  EXPECT_EQ(p.Next(kT0), plain);  // the earlier deadline is a lost cause
  // The wait predicted for reject_if_slo_unattainable counts the load too.
  const absl::Duration with_load =
      *p.PredictTimeToFirstToken(with_adapter->request->request, {}, kT0 + absl::Milliseconds(1));
  load = absl::ZeroDuration();  // resident now
  const absl::Duration resident =
      *p.PredictTimeToFirstToken(with_adapter->request->request, {}, kT0 + absl::Milliseconds(1));
  EXPECT_EQ(with_load - resident, absl::Milliseconds(50));
  EXPECT_FALSE(p.IsLostCause(*with_adapter, kT0));
  EXPECT_EQ(p.Next(kT0), with_adapter);
  // Once it holds its slot (admitted), no load is predicted whatever the estimate says.
  load = absl::Milliseconds(50);
  with_adapter->request->adapter_slot = 0;
  EXPECT_DOUBLE_EQ(p.PrefillSeconds(*with_adapter), 0.012);
}

TEST(SloPolicyTest, RejectIfUnattainableCountsTheLoadOfAnAdapterThatIsNotResident) {
  SchedulerOptions o = Options();
  o.step_time_prior.constant = 2e-3;
  o.step_time_prior.per_prefill_token = 1e-3;
  testing::FakeEngineOptions e;
  e.num_adapter_slots = 2;
  testing::FakeEngine engine(e);
  ManualClock clock(kT0);
  SchedulerCore core(engine, nullptr, clock, o);
  // 40 MB of adapter weights: 10 ms at the load-time estimate's prior 4 GB/s.
  auto weights = std::make_shared<LoraWeights>();
  weights->layers.resize(1);
  weights->layers[0][0].a.assign(10'000'000, 0.0f);
  auto adapter = std::make_shared<AdapterRef>();
  adapter->name = "big";
  adapter->weights = weights;
  GenerateRequest r;
  r.id = "with-adapter";
  r.prompt_token_ids.assign(10, 5);  // 12 ms predicted, + the 10 ms load
  r.max_tokens = 2;
  r.ttft_target = absl::Milliseconds(20);
  r.reject_if_slo_unattainable = true;
  r.adapter = adapter;
  absl::Status refused = core.Add(r, nullptr);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  EXPECT_THAT(refused.message(), HasSubstr("the predicted wait is 22ms"));
  // The same request on the base model makes it.
  r.id = "plain";
  r.adapter = nullptr;
  EXPECT_TRUE(core.Add(r, nullptr).ok());
}

TEST(SloPolicyTest, OutputTokensAreChargedToTheirTenantsByTheNextChoice) {
  const StepTimeModel model = Model();
  VtcFairness fairness;
  SloPolicy p(Options(), &model, &fairness);
  Sequences s;
  TenantStats stats_a;  // as the core gives each request its tenant's stable stats entry
  Sequence* a1 = s.Make(kT0, absl::Milliseconds(100), std::nullopt, 10, "a");
  a1->request->tenant = &stats_a;
  Sequence* b1 = s.Make(kT0, absl::Milliseconds(500), std::nullopt, 10, "b");
  p.Enqueue(a1, kT0);
  p.PopNext(kT0);  // a: 10 input tokens
  for (int i = 0; i < 3; ++i) p.OnTokenGenerated(*a1);
  p.Enqueue(b1, kT0);
  EXPECT_EQ(p.Next(kT0), b1);
  EXPECT_DOUBLE_EQ(fairness.Counter("a"), 10 + 2 * 3);
}

// The admission order of the per-tenant sets against a scan of every waiting sequence for the
// smallest (class, tenant's service, lost, deadline or arrival when lost, arrival) -- the order
// the policy documents -- over random queues, tenants, classes and targets.
// Output tokens are counted per tenant without a lookup by name (nor a hash) per token; the
// counts stay exact with more tenants than the scan keeps and with tenants first seen between
// others' tokens (the map grows under the scan's pointers).
TEST(SloPolicyTest, OutputChargesStayExactWithManyTenantsJoiningMidStep) {
  const StepTimeModel model = Model();
  VtcFairness fairness;
  SloPolicy p(Options(), &model, &fairness);
  Sequences s;
  std::map<std::string, TenantStats> stats;  // stable entries, as the core's
  std::vector<Sequence*> seqs;
  std::map<std::string, int64_t> expected;
  std::mt19937 rng(7);
  for (int step = 0; step < 40; ++step) {
    // A new tenant every other step, up to 3 * kPendingScan of them.
    if (step % 2 == 0 && seqs.size() < 3 * SloPolicy::kPendingScan) {
      const std::string name = "t" + std::to_string(seqs.size());
      Sequence* seq = s.Make(kT0, std::nullopt, std::nullopt, 10, name);
      seq->request->tenant = &stats[name];
      seqs.push_back(seq);
    }
    std::vector<Sequence*> order = seqs;
    std::shuffle(order.begin(), order.end(), rng);
    for (Sequence* seq : order) {
      const int tokens = 1 + static_cast<int>(rng() % 3);
      for (int i = 0; i < tokens; ++i) p.OnTokenGenerated(*seq);
      expected[seq->request->request.tenant] += tokens;
    }
    p.SettleCharges();
    for (const auto& [name, n] : expected) {
      ASSERT_DOUBLE_EQ(fairness.Counter(name), 2.0 * static_cast<double>(n))
          << name << " after step " << step;
    }
  }
}

// VTC's guarantee through the slo policy's quantized comparison: while two tenants stay
// backlogged, their weighted service differs over any interval by at most VTC's bound
// (vtc_fairness.h: 2 x (longest prompt + 2 x the most outputs running)) plus two quanta (each
// end of the interval may sit a quantum off).
TEST(SloPolicyTest, BackloggedTenantsStayWithinVtcsBoundPlusTheQuantum) {
  constexpr int64_t kMaxPrompt = 512, kMaxOutput = 64, kRunning = 8;
  const StepTimeModel model = Model();
  VtcFairness fairness;
  SloPolicy p(Options(), &model, &fairness);
  Sequences s;
  std::map<std::string, TenantStats> stats;
  std::mt19937 rng(11);
  std::map<std::string, int> waiting;
  struct Run {
    Sequence* seq;
    int64_t left;
  };
  std::vector<Run> running;
  double lo = 0, hi = 0;
  absl::Time now = kT0;
  for (int step = 0; step < 3000; ++step) {
    for (const auto& [name, depth] : {std::pair<std::string, int>{"light", 2}, {"heavy", 8}}) {
      while (waiting[name] < depth) {
        const int64_t prompt = name == "heavy"
                                   ? kMaxPrompt
                                   : std::uniform_int_distribution<int64_t>(1, kMaxPrompt)(rng);
        Sequence* seq = s.Make(now, std::nullopt, std::nullopt, prompt, name);
        seq->request->tenant = &stats[name];
        p.Enqueue(seq, now);
        ++waiting[name];
      }
    }
    while (static_cast<int64_t>(running.size()) < kRunning) {
      Sequence* seq = p.Next(now);
      ASSERT_NE(seq, nullptr);
      p.PopNext(now);
      --waiting[seq->request->request.tenant];
      running.push_back({seq, std::uniform_int_distribution<int64_t>(1, kMaxOutput)(rng)});
    }
    for (Run& run : running) {
      p.OnTokenGenerated(*run.seq);
      --run.left;
    }
    std::erase_if(running, [](const Run& run) { return run.left == 0; });
    p.SettleCharges();
    const double d = fairness.Counter("heavy") - fairness.Counter("light");
    lo = std::min(lo, d);
    hi = std::max(hi, d);
    now += absl::Milliseconds(10);
  }
  const double bound = 2 * (kMaxPrompt + 2.0 * kRunning * kMaxOutput);
  EXPECT_LE(hi - lo, bound + 2 * SloPolicy::kServiceQuantum);
  // Not vacuous: both tenants were served a lot.
  EXPECT_GT(fairness.Counter("light"), 50 * bound);
}

// VTC lifts a tenant back from idle to the others' counter, so a well-behaved tenant and a noisy
// one are mostly peers (within a quantum); among peers the one served less lately goes first,
// whatever the deadlines. Found by slo_sim --fairness-test: the well-behaved tenant's chats
// waited behind the noisy tenant's earlier deadlines (p99 TTFT 6.09x its own alone at 4+40).
TEST(SloPolicyTest, AmongPeersTheTenantServedLessLatelyGoesFirst) {
  const StepTimeModel model = Model();
  VtcFairness fairness;
  SloPolicy p(Options(), &model, &fairness);
  Sequences s;
  Sequence* earlier = s.Make(kT0, absl::Seconds(10), std::nullopt, 500, "noisy");
  p.Enqueue(earlier, kT0);
  p.PopNext(kT0);  // noisy is served 500 tokens
  const absl::Time now = kT0 + absl::Milliseconds(100);
  Sequence* noisy = s.Make(now, absl::Milliseconds(100), std::nullopt, 10, "noisy");
  Sequence* good = s.Make(now, absl::Milliseconds(900), std::nullopt, 10, "good");
  p.Enqueue(noisy, now);
  p.Enqueue(good, now);  // lifted to noisy's counter: peers
  ASSERT_EQ(fairness.Counter("good"), fairness.Counter("noisy"));
  EXPECT_EQ(p.Next(now), good);
  EXPECT_TRUE(p.RanksAhead(*good, *noisy, now));
  // Recent service fades (10 s time constant), but 500 tokens 100 s ago still count.
  EXPECT_EQ(p.Next(now + absl::Seconds(100)), good);
  // Without fairness, the earlier deadline.
  SloPolicy unfair(Options(), &model, nullptr);
  unfair.Enqueue(noisy, now);
  unfair.Enqueue(good, now);
  EXPECT_EQ(unfair.Next(now), noisy);
}

// Quanta count from the least served waiting tenant: two tenants a few tokens apart are peers
// even when an absolute quantum boundary lies between them (then the one just above it waited
// behind the other, deadlines aside, until the noisy tenant caught up by a whole quantum).
TEST(SloPolicyTest, TenantsAFewTokensApartArePeers) {
  const StepTimeModel model = Model();
  VtcFairness fairness;
  SloPolicy p(Options(), &model, &fairness);
  const double q = SloPolicy::kServiceQuantum;
  ASSERT_TRUE(fairness.ChargeInput("a", q - 5).ok());
  ASSERT_TRUE(fairness.ChargeInput("b", q + 5).ok());
  Sequences s;
  Sequence* a = s.Make(kT0, absl::Seconds(9), std::nullopt, 10, "a");
  Sequence* b = s.Make(kT0, absl::Seconds(1), std::nullopt, 10, "b");
  p.Enqueue(a, kT0);
  p.Enqueue(b, kT0);
  EXPECT_EQ(p.Next(kT0), b);  // peers, neither served lately: the earlier deadline
  // A whole quantum apart they are not.
  ASSERT_TRUE(fairness.ChargeInput("b", q).ok());
  EXPECT_EQ(p.Next(kT0), a);
}

// The step that feeds a tenant standing ahead of another with prefill work carries only its
// prompts: its chat is not fed in a step that the other's document chunk makes long (found by
// slo_sim --fairness-test: under the noisy tenant's load every step ran ~19 ms, so the good
// tenant's chat waited out one step and then took a long one itself).
TEST(SloPolicyTest, ATenantStandingAheadGetsAStepOfItsOwnPrompts) {
  const StepTimeModel model = Model();
  VtcFairness fairness;
  SloPolicy p(Options(), &model, &fairness);
  Sequences s;
  Sequence* doc = s.Make(kT0, absl::Seconds(10), std::nullopt, 400, "noisy");
  p.Enqueue(doc, kT0);
  p.PopNext(kT0);  // admitted: noisy is served 400 tokens
  doc->num_computed = 100;
  const absl::Time now = kT0 + absl::Milliseconds(10);
  EXPECT_EQ(p.TokenBudget({doc}, now), 512);  // noisy alone: the whole budget
  Sequence* chat = s.Make(now, absl::Seconds(10), std::nullopt, 30, "good");
  p.Enqueue(chat, now);
  // good (a peer, not served lately) has 30 tokens of prompt waiting: a step of those.
  EXPECT_EQ(p.TokenBudget({doc}, now), 30);
  // Without fairness the step is as large as before.
  SloPolicy unfair(Options(), &model, nullptr);
  unfair.Enqueue(chat, now);
  EXPECT_EQ(unfair.TokenBudget({doc}, now), 512);
}

// The finishing-time layout takes the requests in admission order: a tenant standing ahead is
// laid out first, so its document is not given up for a peer's chat that admission would put
// after it (nor its chat for a noisy peer's earlier deadlines).
TEST(SloPolicyTest, TheLayoutFollowsTheTenantsStanding) {
  const StepTimeModel model = Model();
  VtcFairness fairness;
  SloPolicy p(Options(), &model, &fairness);
  Sequences s;
  Sequence* earlier = s.Make(kT0, absl::Seconds(10), std::nullopt, 300, "noisy");
  p.Enqueue(earlier, kT0);
  p.PopNext(kT0);  // noisy is served 300 tokens
  const absl::Time now = kT0 + absl::Milliseconds(10);
  Sequence* chat = s.Make(now, absl::Milliseconds(1100), std::nullopt, 30, "noisy");
  Sequence* doc = s.Make(now, absl::Milliseconds(1200), std::nullopt, 1010, "good");
  p.Enqueue(chat, now);
  p.Enqueue(doc, now);
  // Steps of 512 tokens, 514 ms. good's 1010 tokens end in the second step (1028 ms, within
  // 1200); noisy's chat would then end in the third (1542 ms, past 1100): it is given up. By
  // deadline alone, the chat went first and the document was given up.
  EXPECT_EQ(p.TokenBudget({}, now), 512);
  EXPECT_FALSE(p.IsLostCause(*doc, now));
  EXPECT_TRUE(p.IsLostCause(*chat, now));
}

TEST(SloPolicyTest, AdmissionOrderMatchesAScanOfTheQueue) {
  const StepTimeModel model = Model();
  std::mt19937_64 rng(7);
  for (int round = 0; round < 50; ++round) {
    VtcFairness fairness;
    SchedulerOptions o = Options();
    o.batch_max_wait = absl::Milliseconds(300);
    SloPolicy p(o, &model, &fairness);
    Sequences s;
    std::vector<Sequence*> waiting;
    std::uniform_int_distribution<int> ms(0, 400), pick(0, 9);
    for (int i = 0; i < 40; ++i) {
      const absl::Time arrival = kT0 + absl::Milliseconds(ms(rng));
      std::optional<absl::Duration> ttft;
      if (pick(rng) < 8) ttft = absl::Milliseconds(5 + ms(rng));
      Sequence* q = s.Make(arrival, ttft, std::nullopt, 1 + pick(rng) * 40,
                           std::string(1, static_cast<char>('a' + pick(rng) % 3)),
                           pick(rng) < 3 ? Priority::kBatch : Priority::kInteractive);
      p.Enqueue(q, kT0);
      waiting.push_back(q);
    }
    absl::Time now = kT0 + absl::Milliseconds(200);
    std::map<std::string, double> recent;  // each tenant's recent service, as of recent_at
    absl::Time recent_at = now;
    while (!waiting.empty()) {
      using Key = std::tuple<bool, double, double, bool, absl::Time, size_t>;
      Sequence* want = nullptr;
      Key want_key;
      // Quanta count from the least served waiting tenant's counter; recent service decays.
      double base = std::numeric_limits<double>::infinity();
      for (const Sequence* q : waiting) {
        base = std::min(base, fairness.Counter(q->request->request.tenant));
      }
      for (auto& [tenant, service] : recent) {
        service *= std::exp(-absl::ToDoubleSeconds(now - recent_at) /
                            absl::ToDoubleSeconds(SloPolicy::kRecentServiceTime));
      }
      recent_at = now;
      for (size_t i = 0; i < waiting.size(); ++i) {
        const Sequence& q = *waiting[i];
        const RequestState& r = *q.request;
        const bool yields =
            r.request.priority == Priority::kBatch && now - r.arrival < o.batch_max_wait;
        const bool lost = p.IsLostCause(q, now);
        // Entry order is the index among the ones left, as Enqueue saw them.
        const Key key{
            yields,
            std::floor((fairness.Counter(r.request.tenant) - base) / SloPolicy::kServiceQuantum),
            recent[r.request.tenant],
            lost,
            lost ? r.arrival : p.Deadline(q),
            i};
        if (want == nullptr || key < want_key) {
          want = waiting[i];
          want_key = key;
        }
      }
      ASSERT_EQ(p.Next(now), want) << "round " << round << ", " << waiting.size() << " left";
      const double before = fairness.Counter(want->request->request.tenant);
      p.PopNext(now);
      recent[want->request->request.tenant] +=
          fairness.Counter(want->request->request.tenant) - before;
      waiting.erase(std::find(waiting.begin(), waiting.end(), want));
      now += absl::Milliseconds(7);
    }
    EXPECT_EQ(p.Next(now), nullptr);
    // The prompts (up to 361 tokens) put the tenants' counters in several quanta.
    EXPECT_GE(fairness.Counter("a") + fairness.Counter("b") + fairness.Counter("c"),
              2 * SloPolicy::kServiceQuantum);
  }
}

}  // namespace
}  // namespace tessera
