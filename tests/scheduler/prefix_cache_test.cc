// The prefix cache: the block manager's cached blocks (taken by reference, kept after their last
// sequence lets go, evicted least recently freed and only when no uncached block is free), the
// block keys, and the scheduler on the fake engine (which checks that every KV slot read holds the
// reading sequence's own prefix): what is reused, what is isolated (tenants, cache_salt, adapters
// and their versions), and the edge cases (a fully cached prompt, prompt log-probabilities,
// preemption, cancellation). Nothing here depends on timing.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "scheduler/block_hash.h"
#include "scheduler/clock.h"
#include "scheduler/kv_block_manager.h"
#include "scheduler/scheduler_core.h"
#include "tests/scheduler/fake_engine.h"
#include "tests/scheduler/scheduler_test_util.h"

namespace tessera {
namespace {

using ::tessera::testing::Driver;
using ::tessera::testing::FakeEngine;
using ::tessera::testing::FakeEngineOptions;

BlockHash Key(int i) { return ChainBlockHash(PrefixSeed("", 0, "", ""), {i}); }

TEST(BlockHashTest, EveryFieldOfTheSeedAndEveryTokenChangesTheKey) {
  const BlockHash seed = PrefixSeed("lora", 3, "tenant-a", "salt");
  EXPECT_EQ(seed, PrefixSeed("lora", 3, "tenant-a", "salt"));
  EXPECT_NE(seed, PrefixSeed("lorb", 3, "tenant-a", "salt"));
  EXPECT_NE(seed, PrefixSeed("lora", 4, "tenant-a", "salt"));
  EXPECT_NE(seed, PrefixSeed("lora", 3, "tenant-b", "salt"));
  EXPECT_NE(seed, PrefixSeed("lora", 3, "tenant-a", ""));
  // Length-prefixed fields: moving a byte from one field to the next is another key.
  EXPECT_NE(PrefixSeed("", 0, "ab", "c"), PrefixSeed("", 0, "a", "bc"));
  const std::vector<int32_t> tokens = {1, 2, 3, 4};
  const BlockHash block = ChainBlockHash(seed, tokens);
  EXPECT_EQ(block, ChainBlockHash(seed, tokens));
  EXPECT_NE(block, ChainBlockHash(seed, std::vector<int32_t>{1, 2, 3, 5}));
  EXPECT_NE(block, ChainBlockHash(PrefixSeed("", 0, "", ""), tokens));
  EXPECT_NE(ChainBlockHash(block, tokens), block);  // the parent is in the key
}

TEST(KvBlockManagerPrefixTest, CachedBlocksOutliveTheirSequenceAndAreTakenByReference) {
  KvBlockManager m(6, 4, /*enable_prefix_caching=*/true);
  ASSERT_TRUE(m.Allocate(1, 10).ok());  // 3 blocks, two of them full
  const std::vector<int32_t> first = m.BlockTable(1);
  ASSERT_TRUE(m.CacheBlock(first[0], Key(0)).ok());
  ASSERT_TRUE(m.CacheBlock(first[1], Key(1)).ok());
  ASSERT_TRUE(m.Free(1).ok());
  EXPECT_EQ(m.num_free_blocks(), 6);  // evictable blocks count as free
  EXPECT_EQ(m.num_evictable_blocks(), 2);
  EXPECT_EQ(m.num_cached_blocks(), 2);
  ASSERT_TRUE(m.CheckInvariants().ok()) << m.CheckInvariants();

  const std::vector<BlockHash> keys = {Key(0), Key(1), Key(2)};
  EXPECT_EQ(m.CachedPrefixBlocks(keys), 2);
  absl::StatusOr<int32_t> taken = m.TakeCachedPrefix(2, keys, 3);
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_EQ(*taken, 2);
  EXPECT_EQ(m.BlockTable(2), std::vector<int32_t>(first.begin(), first.begin() + 2));
  EXPECT_EQ(m.num_evictable_blocks(), 0);
  // A second sequence shares them: one block, two references, as forked samples do.
  ASSERT_EQ(*m.TakeCachedPrefix(3, keys, 1), 1);
  EXPECT_EQ(m.RefCount(first[0]), 2);
  EXPECT_EQ(m.RefCount(first[1]), 1);
  ASSERT_TRUE(m.Allocate(2, 9).ok());  // grows past the cached blocks
  EXPECT_EQ(m.BlockTable(2).size(), 3u);
  ASSERT_TRUE(m.CheckInvariants().ok()) << m.CheckInvariants();
  EXPECT_TRUE(absl::IsFailedPrecondition(m.TakeCachedPrefix(2, keys, 3).status()))
      << "a sequence holding blocks takes no cached ones";
  ASSERT_TRUE(m.Free(2).ok());
  ASSERT_TRUE(m.Free(3).ok());
  EXPECT_EQ(m.num_free_blocks(), 6);
  ASSERT_TRUE(m.CheckInvariants().ok()) << m.CheckInvariants();
}

TEST(KvBlockManagerPrefixTest, EvictsLeastRecentlyFreedAndOnlyWhenNoUncachedBlockIsFree) {
  KvBlockManager m(4, 4, /*enable_prefix_caching=*/true);
  ASSERT_TRUE(m.Allocate(1, 8).ok());
  const std::vector<int32_t> a = m.BlockTable(1);
  ASSERT_TRUE(m.CacheBlock(a[0], Key(0)).ok());
  ASSERT_TRUE(m.CacheBlock(a[1], Key(1)).ok());
  ASSERT_TRUE(m.Free(1).ok());         // the tail block is freed first: it goes first
  ASSERT_TRUE(m.Allocate(2, 8).ok());  // the two uncached free blocks
  EXPECT_EQ(m.num_cached_blocks(), 2);
  EXPECT_EQ(m.num_evictions(), 0);
  ASSERT_TRUE(m.Allocate(3, 4).ok());  // must evict one
  EXPECT_EQ(m.num_evictions(), 1);
  EXPECT_EQ(m.BlockTable(3), std::vector<int32_t>{a[1]});
  EXPECT_FALSE(m.IsCached(a[1]));
  const std::vector<BlockHash> keys = {Key(0), Key(1)};
  EXPECT_EQ(m.CachedPrefixBlocks(keys), 1);
  // A reservation (an adapter's weights) evicts too, and a reserved block is never cached.
  absl::StatusOr<std::vector<int32_t>> reserved = m.Reserve(1);
  ASSERT_TRUE(reserved.ok());
  EXPECT_EQ(*reserved, std::vector<int32_t>{a[0]});
  EXPECT_EQ(m.num_cached_blocks(), 0);
  EXPECT_EQ(m.CachedPrefixBlocks(keys), 0);
  ASSERT_TRUE(m.CheckInvariants().ok()) << m.CheckInvariants();
}

TEST(KvBlockManagerPrefixTest, SameContentTwiceKeepsTheFirstBlockAndFreesTheOther) {
  KvBlockManager m(4, 4, /*enable_prefix_caching=*/true);
  ASSERT_TRUE(m.Allocate(1, 4).ok());
  ASSERT_TRUE(m.Allocate(2, 4).ok());
  ASSERT_TRUE(m.CacheBlock(m.BlockTable(1)[0], Key(0)).ok());
  ASSERT_TRUE(m.CacheBlock(m.BlockTable(2)[0], Key(0)).ok());  // computed concurrently
  EXPECT_EQ(m.num_cached_blocks(), 1);
  EXPECT_FALSE(m.IsCached(m.BlockTable(2)[0]));
  ASSERT_TRUE(m.Free(2).ok());
  ASSERT_TRUE(m.Free(1).ok());
  EXPECT_EQ(m.num_evictable_blocks(), 1);
  ASSERT_TRUE(m.CheckInvariants().ok()) << m.CheckInvariants();
}

TEST(KvBlockManagerPrefixTest, MisuseIsAnErrorAndDisabledCachingKeepsNothing) {
  KvBlockManager on(4, 4, /*enable_prefix_caching=*/true);
  const absl::Status unreferenced = on.CacheBlock(0, Key(0));
  EXPECT_TRUE(absl::IsFailedPrecondition(unreferenced)) << unreferenced;
  EXPECT_NE(unreferenced.message().find("KV block 0 is not referenced"), std::string::npos);
  EXPECT_TRUE(absl::IsFailedPrecondition(on.CacheBlock(9, Key(0))));
  KvBlockManager off(4, 4);
  ASSERT_TRUE(off.Allocate(1, 4).ok());
  ASSERT_TRUE(off.CacheBlock(off.BlockTable(1)[0], Key(0)).ok());
  ASSERT_TRUE(off.Free(1).ok());
  EXPECT_EQ(off.num_cached_blocks(), 0);
  EXPECT_EQ(*off.TakeCachedPrefix(2, std::vector<BlockHash>{Key(0)}, 1), 0);
  ASSERT_TRUE(off.CheckInvariants().ok());
}

// The scheduler over the fake engine: blocks of 4 tokens, no EOS.
class PrefixSchedulingTest : public ::testing::Test {
 protected:
  void Start(SchedulerOptions options = {}, int32_t num_blocks = 64) {
    FakeEngineOptions e;
    e.eos_probability = 0;
    e.geometry = {num_blocks, 4};
    e.num_adapter_slots = 4;
    engine_ = std::make_unique<FakeEngine>(e);
    core_ = std::make_unique<SchedulerCore>(*engine_, nullptr, clock_, options);
    driver_ = std::make_unique<Driver>(*core_);
  }
  // Runs `r` alone to completion; returns what it received.
  CollectedRequest Run(GenerateRequest r) {
    const std::string id = r.id;
    EXPECT_TRUE(driver_->Add(std::move(r)).ok());
    EXPECT_TRUE(driver_->RunToCompletion());
    EXPECT_TRUE(core_->blocks().CheckInvariants().ok()) << core_->blocks().CheckInvariants();
    const CollectedRequest& c = driver_->result(id);
    EXPECT_TRUE(c.finished && c.status.ok()) << id << ": " << c.status;
    return c;
  }
  int64_t CachedTokens(GenerateRequest r) {
    const CollectedRequest c = Run(std::move(r));
    return c.timings ? c.timings->cached_prompt_tokens : -1;
  }
  static GenerateRequest Req(std::string id, int len, std::string tenant = "default") {
    GenerateRequest r = testing::MakeRequest(std::move(id), testing::PromptOf(1, len), 5);
    r.tenant = std::move(tenant);
    return r;
  }
  static std::shared_ptr<const AdapterRef> Adapter(std::string name, uint64_t version,
                                                   std::shared_ptr<const LoraWeights> weights) {
    auto ref = std::make_shared<AdapterRef>();
    ref->name = std::move(name);
    ref->version = version;
    ref->weights = std::move(weights);
    return ref;
  }

  ManualClock clock_;
  std::unique_ptr<FakeEngine> engine_;
  std::unique_ptr<SchedulerCore> core_;
  std::unique_ptr<Driver> driver_;
};

TEST_F(PrefixSchedulingTest, RepeatedPromptFeedsOnlyItsUncachedTailAndCountsIt) {
  Start();
  const CollectedRequest first = Run(Req("a", 10));
  EXPECT_EQ(first.timings->cached_prompt_tokens, 0);
  engine_->ClearPlans();
  const CollectedRequest second = Run(Req("b", 10));
  // Two full blocks (8 tokens) cached; the last two prompt tokens are fed.
  EXPECT_EQ(second.timings->cached_prompt_tokens, 8);
  ASSERT_FALSE(engine_->plans().empty());
  EXPECT_EQ(engine_->plans()[0].num_cached[0], 8);
  EXPECT_EQ(engine_->plans()[0].num_fed[0], 2);
  EXPECT_EQ(second.samples[0].token_ids, first.samples[0].token_ids);
  EXPECT_EQ(core_->stats().prefix_cache_queries_total, 20);
  EXPECT_EQ(core_->stats().prefix_cache_hits_total, 8);
  EXPECT_TRUE(core_->stats().enable_prefix_caching);
}

TEST_F(PrefixSchedulingTest, FullyCachedPromptStillComputesItsLastToken) {
  Start();
  for (int len : {8, 9}) {  // ends on a block boundary, and one past it
    const std::string tag = std::to_string(len);
    const CollectedRequest first = Run(Req("a" + tag, len, "t" + tag));
    engine_->ClearPlans();
    const CollectedRequest second = Run(Req("b" + tag, len, "t" + tag));
    ASSERT_FALSE(engine_->plans().empty());
    const testing::PlanRecord& p = engine_->plans()[0];
    // A prompt of exactly two blocks cannot take its last block: its last token must be fed
    // into it, and a cached block is never written.
    EXPECT_EQ(p.num_cached[0], len == 8 ? 4 : 8) << len;
    EXPECT_EQ(p.num_cached[0] + p.num_fed[0], len) << len;
    EXPECT_TRUE(p.sample[0]) << len;
    EXPECT_EQ(second.samples[0].token_ids, first.samples[0].token_ids) << len;
  }
}

TEST_F(PrefixSchedulingTest, TenantScopeIsolatesTenantsAndGlobalScopeSharesThem) {
  Start();  // tenant scope is the default
  EXPECT_EQ(CachedTokens(Req("a1", 13, "a")), 0);
  EXPECT_EQ(CachedTokens(Req("b1", 13, "b")), 0) << "tenant b reused tenant a's blocks";
  EXPECT_EQ(CachedTokens(Req("a2", 13, "a")), 12);
  EXPECT_EQ(CachedTokens(Req("b2", 13, "b")), 12);

  SchedulerOptions global;
  global.prefix_cache_scope = PrefixCacheScope::kGlobal;
  Start(global);
  EXPECT_EQ(CachedTokens(Req("a1", 13, "a")), 0);
  EXPECT_EQ(CachedTokens(Req("b1", 13, "b")), 12);
}

TEST_F(PrefixSchedulingTest, CacheSaltNarrowsReuse) {
  SchedulerOptions global;
  global.prefix_cache_scope = PrefixCacheScope::kGlobal;
  Start(global);
  GenerateRequest salted = Req("s1", 13);
  salted.cache_salt = "secret";
  EXPECT_EQ(CachedTokens(salted), 0);
  EXPECT_EQ(CachedTokens(Req("plain", 13)), 0);
  salted.id = "s2";
  EXPECT_EQ(CachedTokens(salted), 12);
  salted.id = "s3";
  salted.cache_salt = "other";
  EXPECT_EQ(CachedTokens(salted), 0);
}

TEST_F(PrefixSchedulingTest, AdaptersAndAdapterVersionsNeverShareBlocks) {
  Start();
  auto weights_v1 = std::make_shared<LoraWeights>();
  auto weights_v2 = std::make_shared<LoraWeights>();
  auto x_v1 = Adapter("x", 1, weights_v1);
  auto y_v1 = Adapter("y", 7, std::make_shared<LoraWeights>());
  auto with = [&](std::string id, std::shared_ptr<const AdapterRef> a) {
    GenerateRequest r = Req(std::move(id), 13);
    r.adapter = std::move(a);
    return r;
  };
  EXPECT_EQ(CachedTokens(Req("base", 13)), 0);
  EXPECT_EQ(CachedTokens(with("x1", x_v1)), 0) << "an adapter reused the base model's blocks";
  EXPECT_EQ(CachedTokens(with("y1", y_v1)), 0) << "adapter y reused adapter x's blocks";
  EXPECT_EQ(CachedTokens(with("x2", x_v1)), 12);
  // x reloaded: a new version under the same name misses, whatever its weights.
  EXPECT_EQ(CachedTokens(with("x3", Adapter("x", 2, weights_v2))), 0);
  EXPECT_EQ(CachedTokens(with("x4", Adapter("x", 3, weights_v1))), 0);
  // Without a registry version, the weights themselves tell versions apart.
  EXPECT_EQ(CachedTokens(with("u1", Adapter("u", 0, weights_v1))), 0);
  EXPECT_EQ(CachedTokens(with("u2", Adapter("u", 0, weights_v1))), 12);
  EXPECT_EQ(CachedTokens(with("u3", Adapter("u", 0, weights_v2))), 0);
}

TEST_F(PrefixSchedulingTest, PromptLogprobsBypassTheCacheButFillIt) {
  Start();
  GenerateRequest lp = Req("lp1", 13);
  lp.prompt_logprobs = 1;
  const CollectedRequest first = Run(lp);
  EXPECT_EQ(first.timings->cached_prompt_tokens, 0);
  lp.id = "lp2";
  const CollectedRequest second = Run(lp);
  EXPECT_EQ(second.timings->cached_prompt_tokens, 0) << "prompt log-probabilities need every row";
  ASSERT_EQ(second.prompt_logprobs.size(), 13u);
  for (size_t i = 1; i < 13; ++i) EXPECT_TRUE(second.prompt_logprobs[i].has_value()) << i;
  EXPECT_EQ(core_->stats().prefix_cache_queries_total, 0) << "bypassing requests are not queries";
  EXPECT_EQ(CachedTokens(Req("plain", 13)), 12) << "their blocks are cached for others";
}

TEST_F(PrefixSchedulingTest, CancelledRequestsBlocksStayCachedAndValid) {
  Start();
  GenerateRequest r = Req("victim", 13);
  r.max_tokens = 50;
  ASSERT_TRUE(driver_->Add(r).ok());
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(core_->Step().ok());
  ASSERT_TRUE(core_->Cancel("victim"));
  ASSERT_TRUE(driver_->RunToCompletion());
  EXPECT_EQ(driver_->result("victim").status.code(), absl::StatusCode::kCancelled);
  EXPECT_GT(core_->blocks().num_evictable_blocks(), 3) << "its output blocks are cached too";
  // The same prompt and output so far: the fake engine fails the step if any slot read is wrong.
  const CollectedRequest again = Run(Req("again", 13));
  EXPECT_EQ(again.timings->cached_prompt_tokens, 12);
}

TEST_F(PrefixSchedulingTest, PreemptedSequenceRecomputesFromItsOwnCachedBlocks) {
  // 9 blocks of 4: two requests of 12 prompt tokens growing to 28 cannot both finish; the newer
  // is preempted and, resumed, finds its prompt and output blocks that were not evicted since.
  Start({}, /*num_blocks=*/9);
  GenerateRequest x = Req("x", 12);
  GenerateRequest y = testing::MakeRequest("y", testing::PromptOf(2, 12), 16);
  x.max_tokens = 16;
  ASSERT_TRUE(driver_->Add(x).ok());
  ASSERT_TRUE(driver_->Add(y).ok());
  ASSERT_TRUE(driver_->RunToCompletion());
  EXPECT_GT(core_->stats().num_preemptions_total, 0);
  // Both were admitted first with an empty cache: every hit is a recompute's.
  EXPECT_GT(core_->stats().prefix_cache_hits_total, 0);
  for (const char* id : {"x", "y"}) {
    const CollectedRequest& c = driver_->result(id);
    ASSERT_TRUE(c.status.ok()) << id << ": " << c.status;
    EXPECT_EQ(c.timings->cached_prompt_tokens, 0) << id;
    EXPECT_EQ(c.samples[0].token_ids.size(), 16u) << id;
  }
  ASSERT_TRUE(core_->blocks().CheckInvariants().ok()) << core_->blocks().CheckInvariants();
}

TEST_F(PrefixSchedulingTest, ASequencePlannedLaterInTheSameStepReadsTheBlocksItComputes) {
  // Both arrive together; the first's blocks are offered as its chunk is planned, so the second,
  // admitted in the same step, takes them: the engine writes every K and V before attention.
  Start();
  GenerateRequest a = Req("a", 13);
  GenerateRequest b = Req("b", 13);
  ASSERT_TRUE(driver_->Add(a).ok());
  ASSERT_TRUE(driver_->Add(b).ok());
  ASSERT_TRUE(driver_->RunToCompletion());
  ASSERT_FALSE(engine_->plans().empty());
  const testing::PlanRecord& first = engine_->plans()[0];
  ASSERT_EQ(first.num_seqs, 2);
  EXPECT_EQ(first.num_cached[1], 12);
  EXPECT_EQ(first.num_fed[1], 1);
  EXPECT_EQ(driver_->result("b").timings->cached_prompt_tokens, 12);
  EXPECT_EQ(driver_->result("b").samples[0].token_ids, driver_->result("a").samples[0].token_ids);
}

// An engine whose next step fails when told.
class FailingEngine final : public Engine {
 public:
  explicit FailingEngine(FakeEngine& fake) : fake_(fake) {}
  const ModelConfig& config() const override { return fake_.config(); }
  KvCacheGeometry kv_geometry() const override { return fake_.kv_geometry(); }
  absl::StatusOr<StepResult> Step(const StepPlan& plan) override {
    if (fail_next_) {
      fail_next_ = false;
      return absl::InternalError("device lost");
    }
    return fake_.Step(plan);
  }
  FakeEngine& fake_;
  bool fail_next_ = false;
};

TEST_F(PrefixSchedulingTest, AFailedStepLeavesNothingCached) {
  Start();
  FailingEngine failing(*engine_);
  SchedulerCore core(failing, nullptr, clock_, SchedulerOptions{});
  Driver d(core);
  ASSERT_TRUE(d.Add(Req("warm", 13)).ok());
  ASSERT_TRUE(d.RunToCompletion());
  ASSERT_GT(core.blocks().num_cached_blocks(), 0);
  // The failed step had offered the new prompt's blocks, which it never wrote.
  failing.fail_next_ = true;
  ASSERT_TRUE(d.Add(testing::MakeRequest("lost", testing::PromptOf(5, 13), 5)).ok());
  EXPECT_FALSE(core.Step().ok());
  EXPECT_EQ(core.blocks().num_cached_blocks(), 0);
  EXPECT_TRUE(core.blocks().CheckInvariants().ok()) << core.blocks().CheckInvariants();
  d.Drain();
  EXPECT_EQ(d.result("lost").status.code(), absl::StatusCode::kInternal);
  ASSERT_TRUE(d.Add(testing::MakeRequest("again", testing::PromptOf(5, 13), 5)).ok());
  ASSERT_TRUE(d.RunToCompletion());
  EXPECT_EQ(d.result("again").timings->cached_prompt_tokens, 0);
}

TEST_F(PrefixSchedulingTest, NonFiniteLogitsForgetTheSequencesBlocks) {
  FakeEngineOptions e;
  e.eos_probability = 0;
  e.geometry = {64, 4};
  e.num_adapter_slots = 2;
  auto bad = std::make_shared<LoraWeights>();
  e.logits_non_finite = [w = bad.get()](const LoraWeights* a) { return a == w; };
  engine_ = std::make_unique<FakeEngine>(e);
  core_ = std::make_unique<SchedulerCore>(*engine_, nullptr, clock_, SchedulerOptions{});
  driver_ = std::make_unique<Driver>(*core_);
  GenerateRequest r = Req("overflow", 13);
  r.adapter = Adapter("bad", 1, bad);
  ASSERT_TRUE(driver_->Add(r).ok());
  ASSERT_TRUE(driver_->RunToCompletion());
  EXPECT_EQ(driver_->result("overflow").status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(core_->blocks().num_cached_blocks(), 0) << "K and V of a non-finite step stay cached";
  EXPECT_TRUE(core_->blocks().CheckInvariants().ok()) << core_->blocks().CheckInvariants();
}

TEST_F(PrefixSchedulingTest, DisabledCachingReusesNothing) {
  SchedulerOptions off;
  off.enable_prefix_caching = false;
  Start(off);
  EXPECT_EQ(CachedTokens(Req("a", 13)), 0);
  EXPECT_EQ(CachedTokens(Req("b", 13)), 0);
  EXPECT_EQ(core_->blocks().num_cached_blocks(), 0);
  EXPECT_EQ(core_->stats().prefix_cache_queries_total, 0);
  EXPECT_FALSE(core_->stats().enable_prefix_caching);
}

}  // namespace
}  // namespace tessera
