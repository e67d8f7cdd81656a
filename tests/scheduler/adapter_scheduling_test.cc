// LoRA adapters in the scheduler: slots, residency and the admission order, over the fake engine
// wrapped to hold adapter slots and to check every plan against them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>

#include "scheduler/adapter_slots.h"
#include "scheduler/scheduler_core.h"
#include "tests/scheduler/fake_engine.h"
#include "tests/scheduler/scheduler_test_util.h"

namespace tessera::testing {
namespace {

// A FakeEngine with adapter slots. It fails a step in which a sequence names an empty slot, and
// records which weights each request (told apart by its first prompt token) ran with.
class SlottedEngine final : public Engine {
 public:
  SlottedEngine(int32_t num_slots, FakeEngineOptions options)
      : fake_(std::move(options)), slots_(num_slots) {}
  const ModelConfig& config() const override { return fake_.config(); }
  KvCacheGeometry kv_geometry() const override { return fake_.kv_geometry(); }
  int32_t num_adapter_slots() const override { return static_cast<int32_t>(slots_.size()); }
  absl::Status SetAdapter(int32_t slot, std::shared_ptr<const LoraWeights> weights,
                          absl::Span<const int32_t> kv_blocks) override {
    if (!kv_blocks.empty()) return absl::InvalidArgumentError("no KV blocks expected");
    if (slot < 0 || slot >= num_adapter_slots()) return absl::InvalidArgumentError("bad slot");
    if (refuse_ == weights.get() && weights != nullptr) {
      return absl::InvalidArgumentError("shapes do not match");
    }
    slots_[slot] = std::move(weights);
    ++loads_;
    return absl::OkStatus();
  }
  absl::StatusOr<StepResult> Step(const StepPlan& plan) override {
    std::set<int32_t> used;
    for (const StepSequence& s : plan.seqs) {
      if (s.adapter_slot < 0) {
        seen_[s.prompt_token_ids[0]].insert(nullptr);
        continue;
      }
      if (s.adapter_slot >= num_adapter_slots() || slots_[s.adapter_slot] == nullptr) {
        return absl::InvalidArgumentError("a sequence names an empty slot");
      }
      used.insert(s.adapter_slot);
      seen_[s.prompt_token_ids[0]].insert(slots_[s.adapter_slot].get());
      first_step_.try_emplace(s.prompt_token_ids[0], steps_);
    }
    max_distinct_ = std::max(max_distinct_, static_cast<int>(used.size()));
    ++steps_;
    return fake_.Step(plan);
  }

  FakeEngine fake_;
  std::vector<std::shared_ptr<const LoraWeights>> slots_;
  std::map<int32_t, std::set<const LoraWeights*>> seen_;  // by first prompt token
  std::map<int32_t, int64_t> first_step_;
  int loads_ = 0;
  int max_distinct_ = 0;
  int64_t steps_ = 0;
  const LoraWeights* refuse_ = nullptr;
};

std::shared_ptr<const AdapterRef> Adapter(std::string name) {
  auto ref = std::make_shared<AdapterRef>();
  ref->name = std::move(name);
  ref->weights = std::make_shared<LoraWeights>();
  return ref;
}

GenerateRequest WithAdapter(GenerateRequest r, std::shared_ptr<const AdapterRef> adapter) {
  r.adapter = std::move(adapter);
  return r;
}

FakeEngineOptions NoEos() {
  FakeEngineOptions o;
  o.eos_probability = 0;
  return o;
}

TEST(AdapterSlotsTest, ResidentAdaptersAreReusedAndFreeSlotsGoLeastRecentlyUsedFirst) {
  AdapterSlots slots(2);
  auto a = Adapter("a"), b = Adapter("b"), c = Adapter("c");
  const AdapterSlots::Acquired sa = slots.Acquire(*a);
  EXPECT_TRUE(sa.needs_load);
  const AdapterSlots::Acquired sb = slots.Acquire(*b);
  EXPECT_NE(sa.slot, sb.slot);
  EXPECT_FALSE(slots.CanAcquire(*c));  // both pinned
  EXPECT_TRUE(slots.CanAcquire(*a));   // resident
  EXPECT_FALSE(slots.Acquire(*a).needs_load);
  slots.Release(sa.slot);
  slots.Release(sa.slot);
  slots.Release(sb.slot);
  // Both free: a's slot was last touched before b's, so it is the one reused.
  const AdapterSlots::Acquired sc = slots.Acquire(*c);
  EXPECT_TRUE(sc.needs_load);
  EXPECT_EQ(sc.slot, sa.slot);
  EXPECT_EQ(slots.resident(sb.slot), b->weights.get());
  // A reload under the same name is a new version: not resident.
  auto b2 = Adapter("b");
  EXPECT_TRUE(slots.Acquire(*b2).needs_load);
}

TEST(AdapterSchedulingTest, EveryRequestRunsWithItsOwnAdapterAndSlotsAreShared) {
  SlottedEngine engine(2, NoEos());
  SystemClock clock;
  SchedulerCore core(engine, nullptr, clock, {});
  Driver driver(core);
  auto a = Adapter("a"), b = Adapter("b"), c = Adapter("c");
  const std::shared_ptr<const AdapterRef> adapters[] = {a, b, c, nullptr};
  for (int i = 0; i < 12; ++i) {
    GenerateRequest r = MakeRequest(std::to_string(i), {i + 1, 5, 6, 7}, 6 + i % 4);
    r.n = i % 3 == 0 ? 2 : 1;
    ASSERT_TRUE(driver.Add(WithAdapter(std::move(r), adapters[i % 4])).ok());
  }
  ASSERT_TRUE(driver.RunToCompletion());
  for (int i = 0; i < 12; ++i) {
    EXPECT_TRUE(driver.result(std::to_string(i)).status.ok()) << i;
    const LoraWeights* want = adapters[i % 4] ? adapters[i % 4]->weights.get() : nullptr;
    EXPECT_THAT(engine.seen_[i + 1], ::testing::ElementsAre(want)) << "request " << i;
  }
  EXPECT_LE(engine.max_distinct_, 2);
  EXPECT_GE(engine.loads_, 3);
  EXPECT_TRUE(core.idle());
}

TEST(AdapterSchedulingTest, AHeadWithoutASlotIsNotOvertakenByLaterAdapterRequests) {
  SlottedEngine engine(1, NoEos());
  SystemClock clock;
  SchedulerCore core(engine, nullptr, clock, {});
  Driver driver(core);
  auto a = Adapter("a"), c = Adapter("c");
  ASSERT_TRUE(driver.Add(WithAdapter(MakeRequest("a0", {1, 2}, 20), a)).ok());
  ASSERT_TRUE(core.Step().ok());  // a0 holds the only slot
  ASSERT_TRUE(driver.Add(WithAdapter(MakeRequest("c", {2, 2}, 3), c)).ok());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(
        driver.Add(WithAdapter(MakeRequest(absl::StrCat("a", i + 1), {3 + i, 2}, 3), a)).ok());
  }
  ASSERT_TRUE(driver.RunToCompletion());
  ASSERT_TRUE(engine.first_step_.contains(2));
  for (int i = 0; i < 5; ++i) {
    // Without the block, a1.. (whose adapter is resident) would keep the slot busy and c wait.
    EXPECT_GT(engine.first_step_[3 + i], engine.first_step_[2]) << "a" << i + 1;
  }
  EXPECT_TRUE(driver.result("c").status.ok());
}

TEST(AdapterSchedulingTest, AnAdapterTheEngineRefusesFailsOnlyItsRequest) {
  SlottedEngine engine(2, NoEos());
  SystemClock clock;
  SchedulerCore core(engine, nullptr, clock, {});
  Driver driver(core);
  auto bad = Adapter("bad"), good = Adapter("good");
  engine.refuse_ = bad->weights.get();
  ASSERT_TRUE(driver.Add(WithAdapter(MakeRequest("bad", {1, 2}, 3), bad)).ok());
  ASSERT_TRUE(driver.Add(WithAdapter(MakeRequest("good", {2, 2}, 3), good)).ok());
  ASSERT_TRUE(driver.Add(MakeRequest("base", {3, 2}, 3)).ok());
  ASSERT_TRUE(driver.RunToCompletion());
  EXPECT_EQ(driver.result("bad").status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(driver.result("bad").status.message(), ::testing::HasSubstr("adapter \"bad\""));
  EXPECT_TRUE(driver.result("good").status.ok());
  EXPECT_TRUE(driver.result("base").status.ok());
}

// Runs `requests` to completion on a FakeEngine with two adapter slots whose sequences report
// non-finite logits where `non_finite` says so (given their weights, null for the base model).
std::map<std::string, CollectedRequest> RunWith(
    const std::vector<GenerateRequest>& requests,
    std::function<bool(const LoraWeights*)> non_finite) {
  FakeEngineOptions o = NoEos();
  o.num_adapter_slots = 2;
  o.logits_non_finite = std::move(non_finite);
  FakeEngine engine(std::move(o));
  SystemClock clock;
  SchedulerCore core(engine, nullptr, clock, {});
  Driver driver(core);
  for (const GenerateRequest& r : requests) EXPECT_TRUE(driver.Add(r).ok()) << r.id;
  EXPECT_TRUE(driver.RunToCompletion());
  EXPECT_TRUE(core.idle());
  std::map<std::string, CollectedRequest> results;
  for (const GenerateRequest& r : requests) results[r.id] = driver.result(r.id);
  return results;
}

TEST(AdapterSchedulingTest, NonFiniteLogitsEndOnlyTheirRequestWithoutTokens) {
  auto bad = Adapter("bad"), good = Adapter("good");
  auto poison = [w = bad->weights.get()](const LoraWeights* x) { return x == w; };
  GenerateRequest poisoned = WithAdapter(MakeRequest("poisoned", {1, 2, 3}, 8), bad);
  poisoned.n = 2;
  std::vector<GenerateRequest> others = {WithAdapter(MakeRequest("good", {4, 5, 6}, 8), good),
                                         MakeRequest("base", {7, 8}, 8),
                                         WithAdapter(MakeRequest("good-after", {9, 9}, 5), good)};
  // The fake model's tokens depend on the adapters' addresses, so a run may sample the EOS id by
  // chance (eos_probability 0 only stops the forced ones): ignore it, each runs to max_tokens.
  for (GenerateRequest& r : others) r.ignore_eos = true;
  std::vector<GenerateRequest> all = {poisoned};
  all.insert(all.end(), others.begin(), others.end());
  std::map<std::string, CollectedRequest> mixed = RunWith(all, poison);

  const CollectedRequest& p = mixed["poisoned"];
  EXPECT_TRUE(p.finished);
  EXPECT_EQ(p.status.code(), absl::StatusCode::kInternal) << p.status;
  EXPECT_THAT(p.status.message(), ::testing::HasSubstr("non-finite logits in step"));
  EXPECT_THAT(p.status.message(), ::testing::HasSubstr("adapter \"bad\""));
  for (const CollectedSample& s : p.samples) EXPECT_THAT(s.token_ids, ::testing::IsEmpty());
  // The others finish as they do alone.
  for (const GenerateRequest& r : others) {
    SCOPED_TRACE(r.id);
    const CollectedRequest solo = RunWith({r}, poison)[r.id];
    ASSERT_TRUE(solo.status.ok()) << solo.status;
    ASSERT_TRUE(mixed[r.id].status.ok()) << mixed[r.id].status;
    ASSERT_EQ(mixed[r.id].samples.size(), 1u);
    EXPECT_EQ(mixed[r.id].samples[0].token_ids.size(), static_cast<size_t>(r.max_tokens));
    EXPECT_EQ(mixed[r.id].samples[0].token_ids, solo.samples[0].token_ids);
  }
  // The base model can overflow too; the message says so.
  std::map<std::string, CollectedRequest> base =
      RunWith({MakeRequest("b", {1}, 3), WithAdapter(MakeRequest("g", {2}, 3), good)},
              [](const LoraWeights* w) { return w == nullptr; });
  EXPECT_EQ(base["b"].status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(base["b"].status.message(), ::testing::HasSubstr("on the base model"));
  EXPECT_TRUE(base["g"].status.ok()) << base["g"].status;
}

TEST(AdapterSchedulingTest, StatsCountRunningAndWaitingPerAdapter) {
  SlottedEngine engine(1, NoEos());
  SystemClock clock;
  SchedulerCore core(engine, nullptr, clock, {});
  Driver driver(core);
  ASSERT_TRUE(driver.Add(WithAdapter(MakeRequest("a", {1, 2}, 10), Adapter("x"))).ok());
  ASSERT_TRUE(driver.Add(WithAdapter(MakeRequest("b", {2, 2}, 10), Adapter("y"))).ok());
  ASSERT_TRUE(core.Step().ok());
  EXPECT_EQ(core.stats().max_loras, 1);
  ASSERT_EQ(core.stats().adapters.size(), 2u);
  EXPECT_EQ(core.stats().adapters.at("x").running, 1);
  EXPECT_EQ(core.stats().adapters.at("y").waiting, 1);
  ASSERT_TRUE(driver.RunToCompletion());
  EXPECT_TRUE(core.stats().adapters.empty());
}

TEST(AdapterSchedulingTest, AnEngineWithoutSlotsRefusesAdapterRequests) {
  FakeEngine engine(NoEos());
  SystemClock clock;
  SchedulerCore core(engine, nullptr, clock, {});
  absl::Status s = core.Validate(WithAdapter(MakeRequest("r", {1}, 2), Adapter("x")));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), ::testing::HasSubstr("serves no LoRA adapters"));
}

}  // namespace
}  // namespace tessera::testing
