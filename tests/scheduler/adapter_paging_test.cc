// Unified paging in the scheduler: LoRA adapters stored in blocks of the KV page pool, over the
// fake engine with adapter slots (each adapter takes one block per "layer" of its LoraWeights).
// After every step the adapters' blocks are checked against the scheduler's block manager; the fake
// itself refuses wrong block counts and steps that read an adapter's block as KV, and its tokens
// depend on the adapter in the slot, so outputs prove every request ran with its own adapter.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "scheduler/scheduler_core.h"
#include "tests/scheduler/fake_engine.h"
#include "tests/scheduler/scheduler_simulation.h"

namespace tessera::testing {
namespace {

constexpr int32_t kUnstorable = 1000;  // an adapter this "deep" cannot be stored by the fake

FakeEngineOptions PagingEngine(int32_t num_slots, int32_t num_blocks) {
  FakeEngineOptions o;
  // No EOS at all: the fake's tokens hash the adapter's address, so with an EOS id a run would
  // now and then (1 token in 256) end a request early and change the paging these tests check.
  o.eos_probability = 0;
  o.eos_token_ids = {};
  o.geometry = {num_blocks, /*block_size=*/4};
  o.num_adapter_slots = num_slots;
  o.adapter_kv_blocks = [](const LoraWeights& w) -> absl::StatusOr<int32_t> {
    if (w.layers.size() >= kUnstorable) return absl::InvalidArgumentError("rows too long");
    return static_cast<int32_t>(w.layers.size());
  };
  return o;
}

std::shared_ptr<const AdapterRef> Adapter(std::string name, int32_t blocks) {
  auto weights = std::make_shared<LoraWeights>();
  weights->layers.resize(blocks);
  auto ref = std::make_shared<AdapterRef>();
  ref->name = std::move(name);
  ref->weights = std::move(weights);
  return ref;
}

GenerateRequest Request(std::string id, int32_t prompt_len, int32_t max_tokens,
                        std::shared_ptr<const AdapterRef> adapter = nullptr) {
  GenerateRequest r;
  r.id = std::move(id);
  for (int32_t i = 0; i < prompt_len; ++i) r.prompt_token_ids.push_back(3 + (i * 7) % 50);
  r.max_tokens = max_tokens;
  r.adapter = std::move(adapter);
  return r;
}

// A SchedulerCore over a paging fake engine, stepped with checks.
struct Harness {
  explicit Harness(FakeEngineOptions engine_options, SchedulerOptions options = {})
      : engine(std::move(engine_options)), core(engine, nullptr, clock, options) {}

  void Add(GenerateRequest r) {
    auto sink = std::make_shared<QueueSink>();
    const std::string id = r.id;
    requests[id] = r;
    const absl::Status s = core.Add(std::move(r), sink);
    ASSERT_TRUE(s.ok()) << s;
    sinks[id] = sink;
  }

  // One step, then the adapters' blocks against the block manager. False (after a gtest
  // failure) when something is wrong.
  bool Step() {
    const absl::StatusOr<StepReport> report = core.Step();
    ++steps;
    if (!report.ok()) {
      ADD_FAILURE() << "step " << steps << ": " << report.status();
      return false;
    }
    for (auto& [id, sink] : sinks) {
      while (auto u = sink->Next(absl::ZeroDuration())) {
        results[id].Add(*u);
        if (!first_token_step.contains(id) && !results[id].samples.empty() &&
            !results[id].samples[0].token_ids.empty()) {
          first_token_step[id] = steps;
        }
      }
    }
    return AdapterBlocksAreReserved();
  }

  bool Run(int max_steps = 10000) {
    for (int i = 0; i < max_steps && !core.idle(); ++i) {
      if (!Step()) return false;
    }
    EXPECT_TRUE(core.idle());
    return core.idle();
  }

  // Every block an adapter holds is reserved (so in no block table), once; those are all the
  // reserved blocks, and the accounting of the whole pool adds up.
  bool AdapterBlocksAreReserved() const {
    const KvBlockManager& blocks = core.blocks();
    std::set<int32_t> held;
    for (int32_t slot = 0; slot < engine.num_adapter_slots(); ++slot) {
      for (int32_t b : engine.adapter_blocks(slot)) {
        EXPECT_TRUE(held.insert(b).second) << "step " << steps << ": block " << b << " twice";
        EXPECT_TRUE(blocks.IsReserved(b)) << "step " << steps << ": block " << b;
        EXPECT_EQ(blocks.RefCount(b), 0) << "step " << steps << ": block " << b;
      }
    }
    const absl::Status invariants = blocks.CheckInvariants();
    EXPECT_TRUE(invariants.ok()) << "step " << steps << ": " << invariants;
    EXPECT_EQ(static_cast<int32_t>(held.size()), blocks.num_reserved_blocks()) << steps;
    EXPECT_EQ(core.stats().adapter_kv_blocks, blocks.num_reserved_blocks()) << steps;
    return !::testing::Test::HasFailure();
  }

  // Finished OK with the tokens the fake's model gives with the request's adapter.
  void ExpectRight(const std::string& id) {
    const CollectedRequest& got = results[id];
    EXPECT_TRUE(got.status.ok()) << id << ": " << got.status;
    ASSERT_EQ(got.samples.size(), 1u) << id;
    EXPECT_EQ(got.samples[0].token_ids, ExpectSample(engine, requests[id], 0).token_ids) << id;
  }

  int32_t SlotOf(const AdapterRef& adapter) const {
    for (int32_t s = 0; s < engine.num_adapter_slots(); ++s) {
      if (engine.adapter(s) == adapter.weights.get()) return s;
    }
    return -1;
  }
  bool Started(const std::string& id) const { return first_token_step.contains(id); }

  FakeEngine engine;
  SystemClock clock;
  SchedulerCore core;
  int64_t steps = 0;
  std::map<std::string, GenerateRequest> requests;
  std::map<std::string, std::shared_ptr<QueueSink>> sinks;
  std::map<std::string, CollectedRequest> results;
  std::map<std::string, int64_t> first_token_step;
};

TEST(AdapterPagingTest, LoadsGetExactlyTheirBlocksAndRefillingASlotFreesTheOld) {
  Harness h(PagingEngine(1, 32));
  auto a = Adapter("a", 3), b = Adapter("b", 2);
  h.Add(Request("ra", 3, 4, a));
  ASSERT_TRUE(h.Step());
  ASSERT_EQ(h.engine.adapter(0), a->weights.get());
  const std::vector<int32_t> a_blocks = h.engine.adapter_blocks(0);
  EXPECT_EQ(a_blocks.size(), 3u);
  EXPECT_EQ(h.core.stats().adapter_kv_blocks, 3);
  ASSERT_TRUE(h.Run());
  // Idle now, and still resident: the next request for it needs no load.
  EXPECT_EQ(h.engine.adapter_blocks(0), a_blocks);
  EXPECT_EQ(h.core.blocks().num_reserved_blocks(), 3);

  h.Add(Request("rb", 3, 4, b));
  ASSERT_TRUE(h.Run());
  EXPECT_EQ(h.engine.adapter(0), b->weights.get());
  EXPECT_EQ(h.engine.adapter_blocks(0).size(), 2u);
  EXPECT_EQ(h.core.blocks().num_reserved_blocks(), 2);  // a's three came back
  EXPECT_EQ(h.core.blocks().num_free_blocks(), 30);
  const SchedulerStats& s = h.core.stats();
  EXPECT_EQ(s.adapter_loads_total, 2);
  EXPECT_EQ(s.adapter_evictions_total, 1);
  EXPECT_EQ(s.adapter_prefetches_total, 0);
  EXPECT_EQ(h.engine.num_adapter_loads(), 2);
  h.ExpectRight("ra");
  h.ExpectRight("rb");
}

TEST(AdapterPagingTest, IdleAdaptersAreEvictedUnderKvPressureBeforeAnySequenceIsPreempted) {
  // r1 and r2 share their first 20 prompt tokens: with the prefix cache r2 would take r1's
  // blocks and there would be no pressure to test.
  SchedulerOptions options;
  options.enable_prefix_caching = false;
  Harness h(PagingEngine(2, 20), options);
  auto a = Adapter("a", 3);
  h.Add(Request("ra", 2, 2, a));
  ASSERT_TRUE(h.Run());
  ASSERT_GE(h.SlotOf(*a), 0);
  // 12 + 7 blocks at the end: more than the 17 left beside the idle adapter, no more than 20.
  h.Add(Request("r1", 40, 8));
  h.Add(Request("r2", 20, 8));
  ASSERT_TRUE(h.Run());
  EXPECT_EQ(h.core.stats().num_preemptions_total, 0);
  EXPECT_EQ(h.core.stats().adapter_evictions_total, 1);
  EXPECT_EQ(h.SlotOf(*a), -1);
  EXPECT_EQ(h.core.blocks().num_free_blocks(), 20);
  h.ExpectRight("ra");
  h.ExpectRight("r1");
  h.ExpectRight("r2");
}

TEST(AdapterPagingTest, APinnedAdapterIsNeverEvictedAnIdleOneGoesFirst) {
  Harness h(PagingEngine(2, 20));
  auto a = Adapter("a", 3), b = Adapter("b", 3);
  h.Add(Request("rb", 2, 2, b));
  ASSERT_TRUE(h.Run());
  ASSERT_GE(h.SlotOf(*b), 0);
  // ra (older) ends at 6 blocks with a's 3, r1 at 12: 21 > 20 even once b is gone. When r1 next
  // needs a block nothing is idle: it must preempt itself, not take a's blocks while ra runs (the
  // fake fails a step naming an empty slot, and ra's tokens would differ with other weights).
  h.Add(Request("ra", 16, 8, a));
  h.Add(Request("r1", 40, 8));
  bool preempted = false;
  while (!h.core.idle()) {
    ASSERT_TRUE(h.Step());
    const SchedulerStats& s = h.core.stats();
    if (s.num_preemptions_total > 0 && !preempted) {
      preempted = true;
      EXPECT_EQ(h.SlotOf(*b), -1) << "a sequence was preempted while an idle adapter stayed";
      EXPECT_EQ(s.adapter_evictions_total, 1);
      EXPECT_GE(h.SlotOf(*a), 0);
    }
  }
  EXPECT_TRUE(preempted);
  h.ExpectRight("r1");
  h.ExpectRight("ra");
  h.ExpectRight("rb");
  EXPECT_GE(h.results["r1"].timings->preemptions, 1);
  EXPECT_EQ(h.results["ra"].timings->preemptions, 0);
}

TEST(AdapterPagingTest, ARequestWhoseAdapterFindsNoBlocksWaitsAndRunsLater) {
  Harness h(PagingEngine(1, 12));
  auto a = Adapter("a", 3);
  h.Add(Request("r1", 36, 4));  // 9 blocks, then 10
  ASSERT_TRUE(h.Step());
  h.Add(Request("ra", 2, 3, a));  // a's 3 blocks + 1 for its prompt: not free while r1 runs
  h.Add(Request("r3", 2, 3));     // would fit, but must not overtake ra
  while (!h.core.idle() && !h.results["r1"].finished) {
    ASSERT_TRUE(h.Step());
    if (h.results["r1"].finished) break;
    EXPECT_FALSE(h.Started("ra"));
    EXPECT_FALSE(h.Started("r3"));
    EXPECT_EQ(h.engine.num_adapter_loads(), 0);
  }
  ASSERT_TRUE(h.Run());
  EXPECT_EQ(h.core.stats().num_preemptions_total, 0);
  EXPECT_LE(h.first_token_step["ra"], h.first_token_step["r3"]);
  h.ExpectRight("r1");
  h.ExpectRight("ra");
  h.ExpectRight("r3");
}

TEST(AdapterPagingTest, AdaptersThatCannotBeStoredOrLoadedFailOnlyTheirRequests) {
  FakeEngineOptions o = PagingEngine(2, 32);
  auto refused = Adapter("refused", 2);
  o.adapter_load_error = [w = refused->weights.get()](const LoraWeights& weights) {
    return &weights == w ? absl::InvalidArgumentError("shapes do not match") : absl::OkStatus();
  };
  Harness h(std::move(o));
  h.Add(Request("bad", 4, 3, Adapter("bad", kUnstorable)));
  h.Add(Request("huge", 8, 4, Adapter("huge", 30)));  // 30 + its own 3 blocks > 32
  h.Add(Request("refused", 4, 3, refused));
  h.Add(Request("good", 4, 3, Adapter("good", 3)));
  h.Add(Request("base", 4, 3));
  ASSERT_TRUE(h.Run());
  const auto failed = [&](const std::string& id, const std::string& what) {
    const absl::Status& s = h.results[id].status;
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << id << ": " << s;
    EXPECT_THAT(s.message(), ::testing::HasSubstr("adapter \"" + id + "\"")) << s;
    EXPECT_THAT(s.message(), ::testing::HasSubstr(what)) << s;
  };
  failed("bad", "cannot be stored by the engine: rows too long");
  failed("huge", "takes 30 KV blocks");
  failed("refused", "cannot be loaded by the engine: shapes do not match");
  h.ExpectRight("good");
  h.ExpectRight("base");
  // The refused load gave its blocks back; only good's stay.
  EXPECT_EQ(h.core.blocks().num_reserved_blocks(), 3);
  EXPECT_EQ(h.core.stats().adapter_loads_total, 1);
}

// max_num_seqs 1 keeps the second request waiting while blocks are plentiful; the token budget
// of 16 makes the prefetch reserve 4 + 2 x 1 blocks.
SchedulerOptions OneAtATime() {
  SchedulerOptions o;
  o.max_num_seqs = 1;
  o.max_num_batched_tokens = 16;
  return o;
}

TEST(AdapterPagingTest, PrefetchLoadsAWaitingRequestsAdapterBeforeItsAdmission) {
  Harness h(PagingEngine(2, 64), OneAtATime());
  auto a = Adapter("a", 3);
  h.Add(Request("r1", 4, 6));
  h.Add(Request("ra", 4, 4, a));
  ASSERT_TRUE(h.Step());
  EXPECT_FALSE(h.Started("ra"));
  EXPECT_GE(h.SlotOf(*a), 0) << "not prefetched";
  EXPECT_EQ(h.core.stats().adapter_prefetches_total, 1);
  EXPECT_EQ(h.core.stats().adapter_kv_blocks, 3);
  ASSERT_TRUE(h.Run());
  EXPECT_EQ(h.engine.num_adapter_loads(), 1);  // ra found it resident
  EXPECT_EQ(h.core.stats().adapter_loads_total, 1);
  h.ExpectRight("r1");
  h.ExpectRight("ra");
}

TEST(AdapterPagingTest, PrefetchNeverEvictsAnAdapter) {
  Harness h(PagingEngine(1, 64), OneAtATime());
  auto a = Adapter("a", 3), b = Adapter("b", 3);
  h.Add(Request("rb", 2, 2, b));
  ASSERT_TRUE(h.Run());
  h.Add(Request("r1", 4, 6));
  h.Add(Request("ra", 4, 4, a));
  for (int i = 0; i < 100 && !h.Started("ra"); ++i) {
    ASSERT_TRUE(h.Step());
    if (h.Started("ra")) break;
    EXPECT_EQ(h.SlotOf(*b), 0) << "step " << h.steps;  // the only slot keeps the idle b
  }
  ASSERT_TRUE(h.Run());
  const SchedulerStats& s = h.core.stats();
  EXPECT_EQ(s.adapter_prefetches_total, 0);
  EXPECT_EQ(s.adapter_loads_total, 2);
  EXPECT_EQ(s.adapter_evictions_total, 1);  // b, by ra's own load
  h.ExpectRight("ra");
}

TEST(AdapterPagingTest, PrefetchTakesOnlyBlocksBeyondTheNextStepsReserve) {
  // r1 holds 1 block after the first step; the reserve is 6 and a takes 3: a pool of 10 leaves
  // exactly 9 free, a pool of 9 one too few.
  for (const int32_t pool : {9, 10}) {
    SCOPED_TRACE(pool);
    Harness h(PagingEngine(2, pool), OneAtATime());
    auto a = Adapter("a", 3);
    h.Add(Request("r1", 4, 4));
    h.Add(Request("ra", 2, 2, a));
    ASSERT_TRUE(h.Step());
    EXPECT_EQ(h.core.stats().adapter_prefetches_total, pool == 10 ? 1 : 0);
    ASSERT_TRUE(h.Run());
    EXPECT_EQ(h.core.stats().adapter_prefetches_total, pool == 10 ? 1 : 0);
    EXPECT_EQ(h.core.stats().adapter_loads_total, 1);
    h.ExpectRight("r1");
    h.ExpectRight("ra");
  }
}

TEST(AdapterPagingTest, APrefetchedAdapterWhoseRequestStillWaitsIsEvictedBeforeAPreemption) {
  Harness h(PagingEngine(2, 20), OneAtATime());
  auto a = Adapter("a", 3);
  h.Add(Request("r1", 4, 73));  // grows to 19 blocks: it needs the prefetched adapter's blocks
  h.Add(Request("ra", 2, 2, a));
  ASSERT_TRUE(h.Step());
  ASSERT_EQ(h.core.stats().adapter_prefetches_total, 1);
  ASSERT_TRUE(h.Run());
  const SchedulerStats& s = h.core.stats();
  EXPECT_EQ(s.num_preemptions_total, 0);
  EXPECT_EQ(s.adapter_evictions_total, 1);
  EXPECT_EQ(s.adapter_loads_total, 2);  // loaded again for ra
  h.ExpectRight("r1");
  h.ExpectRight("ra");
}

TEST(AdapterPagingTest, AnEngineWithoutPagingKeepsAdaptersOutOfThePool) {
  FakeEngineOptions o = PagingEngine(2, 16);
  o.adapter_kv_blocks = nullptr;  // adapters take no blocks
  Harness h(std::move(o), OneAtATime());
  auto a = Adapter("a", 3), b = Adapter("b", 3);
  h.Add(Request("r1", 4, 6));
  h.Add(Request("ra", 4, 4, a));
  h.Add(Request("rb", 44, 4, b));
  ASSERT_TRUE(h.Run());
  const SchedulerStats& s = h.core.stats();
  EXPECT_EQ(s.adapter_kv_blocks, 0);
  EXPECT_EQ(s.adapter_prefetches_total, 0);  // a load costs nothing ahead of time
  EXPECT_EQ(s.adapter_evictions_total, 0);
  EXPECT_EQ(s.adapter_loads_total, 2);
  EXPECT_GE(h.SlotOf(*a), 0);  // both stay resident: nothing needed their slots
  EXPECT_GE(h.SlotOf(*b), 0);
  h.ExpectRight("ra");
  h.ExpectRight("rb");
}

}  // namespace
}  // namespace tessera::testing
