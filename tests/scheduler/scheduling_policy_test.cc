// The scheduling policies alone (fcfs, priority): the order in which they admit waiting
// sequences, their token budget, the order in which they feed running ones and the victims they
// choose; then each through SchedulerCore over the fake engine, where the difference shows as
// which request gets its first token first.
#include "scheduler/scheduling_policy.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "scheduler/fcfs_policy.h"
#include "scheduler/priority_policy.h"
#include "tests/scheduler/scheduler_simulation.h"

namespace tessera {
namespace {

using ::tessera::testing::Arrival;
using ::tessera::testing::Simulation;
using ::tessera::testing::SimulationConfig;

const absl::Time kT0 = absl::UnixEpoch() + absl::Hours(1);

// Requests and their one sequence each, as the core would hold them.
class Sequences {
 public:
  // A sequence of a request of `priority` that arrived at `arrival` and (if running) was
  // admitted `admit_order`-th.
  Sequence* Make(Priority priority, absl::Time arrival, int64_t admit_order = 0) {
    auto r = std::make_unique<RequestState>();
    r->request.id = std::to_string(requests_.size());
    r->request.priority = priority;
    r->arrival = arrival;
    auto seq = std::make_unique<Sequence>();
    seq->request = r.get();
    seq->admit_order = admit_order;
    r->seqs.push_back(std::move(seq));
    requests_.push_back(std::move(r));
    return requests_.back()->seqs.back().get();
  }

 private:
  std::vector<std::unique_ptr<RequestState>> requests_;
};

SchedulerOptions Options(SchedulingPolicyKind kind) {
  SchedulerOptions o;
  o.scheduling_policy = kind;
  o.max_num_batched_tokens = 333;
  o.batch_max_wait = absl::Seconds(10);
  return o;
}

std::vector<Sequence*> AdmissionOrder(SchedulingPolicy& p, absl::Time now) {
  std::vector<Sequence*> order;
  while (Sequence* s = p.Next(now)) {
    order.push_back(s);
    p.PopNext(now);
  }
  return order;
}

TEST(SchedulingPolicyTest, NamesParseAndUnknownOnesNameTheValidOnes) {
  for (SchedulingPolicyKind k : {SchedulingPolicyKind::kFcfs, SchedulingPolicyKind::kPriority}) {
    absl::StatusOr<SchedulingPolicyKind> parsed = ParseSchedulingPolicy(SchedulingPolicyName(k));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, k);
    EXPECT_EQ(MakeSchedulingPolicy(Options(k), nullptr, nullptr)->kind(), k);
  }
  EXPECT_EQ(SchedulingPolicyName(SchedulingPolicyKind::kFcfs), "fcfs");
  EXPECT_EQ(SchedulingPolicyName(SchedulingPolicyKind::kPriority), "priority");
  for (const char* bad : {"edf", "FCFS", "", "priority "}) {
    const absl::Status s = ParseSchedulingPolicy(bad).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(s.message(),
              "unknown scheduling policy \"" + std::string(bad) + "\"; valid: fcfs, priority, slo");
  }
  // Today's behaviour stays the default until the slo policy comes.
  EXPECT_EQ(SchedulerOptions().scheduling_policy, SchedulingPolicyKind::kPriority);
}

TEST(SchedulingPolicyTest, FcfsAdmitsInArrivalOrderWhateverThePriorityAndPreemptedFirst) {
  Sequences s;
  FcfsPolicy p(Options(SchedulingPolicyKind::kFcfs));
  Sequence* a = s.Make(Priority::kBatch, kT0);
  Sequence* b = s.Make(Priority::kInteractive, kT0 + absl::Seconds(1));
  Sequence* c = s.Make(Priority::kBatch, kT0 + absl::Seconds(2));
  Sequence* preempted = s.Make(Priority::kBatch, kT0 - absl::Seconds(5));
  p.Enqueue(a, kT0);
  p.Enqueue(b, kT0 + absl::Seconds(1));
  p.Enqueue(c, kT0 + absl::Seconds(2));
  p.Requeue(preempted);
  EXPECT_EQ(p.num_waiting(), 4u);
  std::vector<const Sequence*> seen;
  p.ForEachWaiting([&](const Sequence* x) {
    seen.push_back(x);
    return true;
  });
  EXPECT_EQ(seen, (std::vector<const Sequence*>{preempted, a, b, c}));
  EXPECT_TRUE(p.Remove(a));
  EXPECT_FALSE(p.Remove(a));
  EXPECT_EQ(AdmissionOrder(p, kT0 + absl::Hours(1)), (std::vector<Sequence*>{preempted, b, c}));
  EXPECT_EQ(p.Next(kT0), nullptr);
}

TEST(SchedulingPolicyTest, PriorityAdmitsInteractiveFirstUntilBatchAgesAndPreemptedFirst) {
  Sequences s;
  PriorityPolicy p(Options(SchedulingPolicyKind::kPriority));
  Sequence* batch = s.Make(Priority::kBatch, kT0);
  Sequence* i1 = s.Make(Priority::kInteractive, kT0 + absl::Seconds(1));
  Sequence* i2 = s.Make(Priority::kInteractive, kT0 + absl::Seconds(2));
  p.Enqueue(batch, kT0);
  p.Enqueue(i1, kT0 + absl::Seconds(1));
  p.Enqueue(i2, kT0 + absl::Seconds(2));
  // Before batch_max_wait the interactive class goes first; after it, the aged batch request.
  EXPECT_EQ(p.Next(kT0 + absl::Seconds(9)), i1);
  EXPECT_EQ(p.Next(kT0 + absl::Seconds(10)), batch);
  // A preempted interactive sequence goes ahead of its class.
  Sequence* preempted = s.Make(Priority::kInteractive, kT0 + absl::Seconds(3));
  p.Requeue(preempted);
  EXPECT_EQ(AdmissionOrder(p, kT0 + absl::Seconds(5)),
            (std::vector<Sequence*>{preempted, i1, i2, batch}));
  // A preempted batch sequence's wait counts from its arrival, not from its preemption.
  Sequence* old_batch = s.Make(Priority::kBatch, kT0 - absl::Seconds(20));
  Sequence* i3 = s.Make(Priority::kInteractive, kT0);
  p.Enqueue(i3, kT0);
  p.Requeue(old_batch);
  EXPECT_EQ(p.Next(kT0), old_batch);
}

TEST(SchedulingPolicyTest, BothBudgetsAreTheFixedMaxNumBatchedTokens) {
  Sequences s;
  std::vector<Sequence*> running = {s.Make(Priority::kInteractive, kT0, 1),
                                    s.Make(Priority::kBatch, kT0, 2)};
  for (SchedulingPolicyKind k : {SchedulingPolicyKind::kFcfs, SchedulingPolicyKind::kPriority}) {
    std::unique_ptr<SchedulingPolicy> p = MakeSchedulingPolicy(Options(k), nullptr, nullptr);
    EXPECT_EQ(p->TokenBudget(running, kT0), 333) << SchedulingPolicyName(k);
    EXPECT_EQ(p->TokenBudget({}, kT0), 333) << SchedulingPolicyName(k);
  }
}

TEST(SchedulingPolicyTest, FcfsFeedsInAdmissionOrderAndPreemptsTheNewest) {
  Sequences s;
  FcfsPolicy p(Options(SchedulingPolicyKind::kFcfs));
  Sequence* batch = s.Make(Priority::kBatch, kT0, 1);
  Sequence* inter = s.Make(Priority::kInteractive, kT0, 2);
  Sequence* batch2 = s.Make(Priority::kBatch, kT0, 3);
  const std::vector<Sequence*> running = {batch, inter, batch2};
  std::vector<Sequence*> order = {inter};  // replaced, not appended to
  p.OrderRunning(running, kT0, &order);
  EXPECT_EQ(order, running);
  EXPECT_EQ(p.ChooseVictim(running, kT0), batch2);
  EXPECT_EQ(p.ChooseVictim(std::vector<Sequence*>{inter, batch}, kT0), inter);
  // Waiting requests never take a running one's room, whatever their priority.
  Sequence* head = s.Make(Priority::kInteractive, kT0);
  EXPECT_FALSE(p.MayPreemptFor(*head, kT0));
  EXPECT_EQ(p.ChooseVictimFor(*head, running, kT0), nullptr);
}

TEST(SchedulingPolicyTest, PriorityFeedsInteractiveFirstAndPreemptsTheNewestBatch) {
  Sequences s;
  PriorityPolicy p(Options(SchedulingPolicyKind::kPriority));
  const absl::Time now = kT0 + absl::Seconds(5);
  Sequence* batch = s.Make(Priority::kBatch, kT0, 1);
  Sequence* inter = s.Make(Priority::kInteractive, kT0, 2);
  Sequence* batch2 = s.Make(Priority::kBatch, kT0, 3);
  Sequence* inter2 = s.Make(Priority::kInteractive, kT0, 4);
  // Aged: waited batch_max_wait since arrival, so it ranks as interactive (by admission).
  Sequence* aged = s.Make(Priority::kBatch, kT0 - absl::Seconds(30), 5);
  const std::vector<Sequence*> running = {batch, inter, batch2, inter2, aged};
  std::vector<Sequence*> order;
  p.OrderRunning(running, now, &order);
  EXPECT_EQ(order, (std::vector<Sequence*>{inter, inter2, aged, batch, batch2}));
  // The victim is the last in that order: the newest batch one, though newer ones run.
  EXPECT_EQ(p.ChooseVictim(running, now), batch2);
  EXPECT_EQ(p.ChooseVictim(std::vector<Sequence*>{batch, inter2, aged}, now), batch);
  EXPECT_EQ(p.ChooseVictim(std::vector<Sequence*>{inter2, batch}, now), batch);
  EXPECT_EQ(p.ChooseVictim(std::vector<Sequence*>{inter, aged, inter2}, now), aged);
  // A waiting interactive request may preempt running batch ones (newest first), never an
  // interactive or aged one; a waiting batch request preempts nothing.
  Sequence* head = s.Make(Priority::kInteractive, now);
  EXPECT_TRUE(p.MayPreemptFor(*head, now));
  EXPECT_EQ(p.ChooseVictimFor(*head, running, now), batch2);
  EXPECT_EQ(p.ChooseVictimFor(*head, std::vector<Sequence*>{inter, aged, inter2}, now), nullptr);
  Sequence* waiting_batch = s.Make(Priority::kBatch, now);
  EXPECT_FALSE(p.MayPreemptFor(*waiting_batch, now));
  EXPECT_EQ(p.ChooseVictimFor(*waiting_batch, running, now), nullptr);
}

GenerateRequest Request(std::string id, Priority priority, int32_t prompt_len, int32_t max_tokens) {
  GenerateRequest r;
  r.id = std::move(id);
  r.priority = priority;
  for (int32_t i = 0; i < prompt_len; ++i) r.prompt_token_ids.push_back(10 + i);
  r.max_tokens = max_tokens;
  return r;
}

// One sequence slot; a batch request arrives first, then an interactive one while it runs.
// Under fcfs the batch request keeps its slot until it finishes; under priority the interactive
// one preempts it and gets its first token first. Tokens are the same under both.
std::unique_ptr<Simulation> RunBatchThenInteractive(SchedulingPolicyKind kind) {
  SimulationConfig c;
  c.options.scheduling_policy = kind;
  c.options.max_num_seqs = 1;
  c.engine.eos_probability = 0;
  c.max_tick = absl::Milliseconds(1);
  auto sim = std::make_unique<Simulation>(c);
  std::vector<Arrival> arrivals;
  arrivals.push_back({absl::ZeroDuration(), Request("batch", Priority::kBatch, 8, 20)});
  arrivals.push_back({absl::Milliseconds(3), Request("inter", Priority::kInteractive, 8, 5)});
  EXPECT_TRUE(sim->Run(std::move(arrivals)));
  EXPECT_TRUE(sim->CheckOutcomes());
  return sim;
}

TEST(SchedulingPolicyTest, InTheCoreFcfsServesArrivalOrderAndPriorityPreemptsForInteractive) {
  const std::unique_ptr<Simulation> fcfs_sim = RunBatchThenInteractive(SchedulingPolicyKind::kFcfs);
  const std::unique_ptr<Simulation> prio_sim =
      RunBatchThenInteractive(SchedulingPolicyKind::kPriority);
  const Simulation& fcfs = *fcfs_sim;
  const Simulation& prio = *prio_sim;
  auto sink = [](const Simulation& sim, const char* id) { return *sim.requests().at(id).sink; };
  EXPECT_EQ(fcfs.core().stats().num_preemptions_total, 0);
  EXPECT_LT(*sink(fcfs, "batch").final_time, *sink(fcfs, "inter").final_time);
  EXPECT_GT(prio.core().stats().num_preemptions_total, 0);
  EXPECT_LT(*sink(prio, "inter").final_time, *sink(prio, "batch").final_time);
  for (const char* id : {"batch", "inter"}) {
    EXPECT_EQ(sink(fcfs, id).collected.samples.at(0).token_ids,
              sink(prio, id).collected.samples.at(0).token_ids)
        << id;
  }
}

}  // namespace
}  // namespace tessera

namespace tessera {
namespace {

GenerateRequest TenantRequest(const std::string& id, const std::string& tenant) {
  GenerateRequest r;
  r.id = id;
  r.tenant = tenant;
  r.prompt_token_ids = {1, 2, 3, 4};
  r.max_tokens = 3;
  r.ignore_eos = true;
  return r;
}

// Runs `requests` (all queued before the first step) one at a time (max_num_seqs 1) and returns
// their ids in the order they finished, which is the order they were admitted.
std::vector<std::string> AdmissionOrder(SchedulingPolicyKind kind, FairnessKind fairness,
                                        const std::vector<GenerateRequest>& requests) {
  ManualClock clock;
  testing::FakeEngine engine(testing::FakeEngineOptions{});
  SchedulerOptions o;
  o.scheduling_policy = kind;
  o.fairness = fairness;
  o.max_num_seqs = 1;
  SchedulerCore core(engine, nullptr, clock, o);
  std::map<std::string, std::shared_ptr<QueueSink>> sinks;
  for (const GenerateRequest& r : requests) {
    sinks[r.id] = std::make_shared<QueueSink>();
    EXPECT_TRUE(core.Add(r, sinks[r.id]).ok());
  }
  std::vector<std::string> order;
  for (int step = 0; step < 1000 && !core.idle(); ++step) {
    EXPECT_TRUE(core.Step().ok());
    clock.Advance(absl::Milliseconds(1));
    for (auto& [id, sink] : sinks) {
      while (auto u = sink->Next(absl::ZeroDuration())) {
        if (u->finished) order.push_back(id);
      }
    }
  }
  return order;
}

// --fairness vtc works with every policy: between tenants the one with the least service goes
// next, first come first served within a tenant; --fairness none keeps plain arrival order.
TEST(FairnessWithEveryPolicyTest, TenantsTakeTurnsUnderFcfsAndPriority) {
  const std::vector<GenerateRequest> requests = {TenantRequest("a1", "a"), TenantRequest("a2", "a"),
                                                 TenantRequest("a3", "a"),
                                                 TenantRequest("b1", "b")};
  for (SchedulingPolicyKind kind : {SchedulingPolicyKind::kFcfs, SchedulingPolicyKind::kPriority}) {
    EXPECT_EQ(AdmissionOrder(kind, FairnessKind::kVtc, requests),
              (std::vector<std::string>{"a1", "b1", "a2", "a3"}))
        << SchedulingPolicyName(kind);
    EXPECT_EQ(AdmissionOrder(kind, FairnessKind::kNone, requests),
              (std::vector<std::string>{"a1", "a2", "a3", "b1"}))
        << SchedulingPolicyName(kind);
  }
}

TEST(FairnessWithEveryPolicyTest, PriorityClassesStillComeBeforeTenantTurns) {
  // b's interactive request goes before a's batch ones whatever the counters say; within the
  // batch class the tenants take turns.
  std::vector<GenerateRequest> requests = {TenantRequest("a1", "a"), TenantRequest("a2", "a"),
                                           TenantRequest("c1", "c"), TenantRequest("b1", "b")};
  for (int i = 0; i < 3; ++i) requests[static_cast<size_t>(i)].priority = Priority::kBatch;
  EXPECT_EQ(AdmissionOrder(SchedulingPolicyKind::kPriority, FairnessKind::kVtc, requests),
            (std::vector<std::string>{"b1", "a1", "c1", "a2"}));
}

// The stats (and so tessera_scheduler_info and tessera_tenant_service_tokens) name the policy
// and fairness, and every policy charges the tenants' service when fairness is on.
TEST(FairnessWithEveryPolicyTest, EveryPolicyChargesServiceWhenFairnessIsOn) {
  for (SchedulingPolicyKind kind :
       {SchedulingPolicyKind::kFcfs, SchedulingPolicyKind::kPriority, SchedulingPolicyKind::kSlo}) {
    for (FairnessKind fairness : {FairnessKind::kVtc, FairnessKind::kNone}) {
      ManualClock clock;
      testing::FakeEngine engine(testing::FakeEngineOptions{});
      SchedulerOptions o;
      o.scheduling_policy = kind;
      o.fairness = fairness;
      SchedulerCore core(engine, nullptr, clock, o);
      EXPECT_EQ(core.stats().scheduling_policy, SchedulingPolicyName(kind));
      EXPECT_EQ(core.stats().fairness, FairnessName(fairness));
      ASSERT_TRUE(core.Add(TenantRequest("r", "t"), std::make_shared<QueueSink>()).ok());
      while (!core.idle()) ASSERT_TRUE(core.Step().ok());
      // 4 prompt tokens and 3 outputs, weighted 1 and 2.
      EXPECT_EQ(core.stats().tenants.at("t").fairness_counter,
                fairness == FairnessKind::kVtc ? 4.0 + 2 * 3 : 0.0)
          << SchedulingPolicyName(kind) << " " << FairnessName(fairness);
    }
  }
}

}  // namespace
}  // namespace tessera
