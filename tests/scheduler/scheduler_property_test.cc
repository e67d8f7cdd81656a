// Randomized property tests of SchedulerCore over the FakeEngine (which checks every plan's KV
// reads against what was written) and a manual clock. Seeds are fixed, so runs are repeatable; a
// failure names its seed and scenario. Properties checked on every step and at the end live in
// tests/scheduler/scheduler_simulation.cc; the ones here need a special workload.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/scheduler/scheduler_simulation.h"

namespace tessera {
namespace {

using ::tessera::testing::Arrival;
using ::tessera::testing::FakeEngineOptions;
using ::tessera::testing::Simulation;
using ::tessera::testing::SimulationConfig;

class Random {
 public:
  explicit Random(uint64_t seed) : rng_(seed) {}
  int64_t Uniform(int64_t lo, int64_t hi) {  // [lo, hi]
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  template <typename T>
  T Pick(std::initializer_list<T> xs) {
    return *(xs.begin() + Uniform(0, static_cast<int64_t>(xs.size()) - 1));
  }
  uint64_t Bits() { return rng_(); }

 private:
  std::mt19937_64 rng_;
};

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

struct Scenario {
  SimulationConfig config;
  std::vector<Arrival> arrivals;
  std::string description;
};

// KV geometry: blocks enough for the largest request alone (the scheduler refuses bigger ones),
// plus nothing, a few, or plenty.
KvCacheGeometry PoolFor(Random& rand, int64_t need_blocks, int32_t block_size, int num_requests) {
  const int64_t extra = rand.Pick<int64_t>({0, rand.Uniform(1, 8), need_blocks * num_requests});
  return {static_cast<int32_t>(need_blocks + extra), block_size};
}

std::string Describe(const SimulationConfig& c, size_t num_requests) {
  return absl::StrCat("block_size ", c.engine.geometry.block_size, ", num_blocks ",
                      c.engine.geometry.num_blocks, ", budget ", c.options.max_num_batched_tokens,
                      ", max_num_seqs ", c.options.max_num_seqs, ", max_waiting ",
                      c.options.max_waiting_requests, ", vocab ", c.engine.vocab_size, ", eos p ",
                      c.engine.eos_probability, ", cancel p ", c.cancel_probability, ", ",
                      num_requests, " requests");
}

Scenario RandomScenario(uint64_t seed) {
  Random rand(seed);
  Scenario s;
  SimulationConfig& c = s.config;
  c.seed = seed;
  SchedulerOptions& o = c.options;
  o.max_num_batched_tokens = rand.Pick({1, 7, 64, 2048});
  o.max_num_seqs = rand.Pick({1, 3, 256});
  o.batch_max_wait =
      rand.Pick({absl::Milliseconds(20), absl::Milliseconds(300), absl::Seconds(10)});
  if (rand.Chance(0.15)) o.max_waiting_requests = static_cast<int32_t>(rand.Uniform(1, 6));
  FakeEngineOptions& e = c.engine;
  e.vocab_size = rand.Pick<int64_t>({40, 300, 5000});
  e.eos_token_ids = rand.Chance(0.5) ? std::vector<int64_t>{1} : std::vector<int64_t>{1, 2};
  e.eos_probability = rand.Pick({0.0, 0.01, 0.08});
  e.max_position_embeddings = 512;
  c.max_tick = rand.Pick({absl::Microseconds(100), absl::Milliseconds(5), absl::Milliseconds(50)});
  c.cancel_probability = rand.Pick({0.0, 0.005, 0.03});
  const int32_t block_size = rand.Pick({1, 4, 16});

  // Fewer and shorter requests when a step feeds few tokens, to keep the test quick.
  const int64_t budget = o.max_num_batched_tokens;
  const int num_requests = static_cast<int>(budget == 1   ? rand.Uniform(2, 6)
                                            : budget == 7 ? rand.Uniform(3, 12)
                                                          : rand.Uniform(3, 30));
  const int64_t max_prompt = budget == 1 ? 60 : 300;
  int64_t need_blocks = 1;
  absl::Duration at;
  for (int i = 0; i < num_requests; ++i) {
    GenerateRequest r;
    r.id = absl::StrCat("r", i);
    r.tenant = rand.Pick({"a", "b", "c"});
    r.priority = rand.Chance(0.3) ? Priority::kBatch : Priority::kInteractive;
    const int64_t len = rand.Chance(0.3) ? rand.Uniform(1, 8) : rand.Uniform(1, max_prompt);
    for (int64_t j = 0; j < len; ++j) {
      r.prompt_token_ids.push_back(static_cast<int32_t>(rand.Uniform(0, e.vocab_size - 1)));
    }
    r.max_tokens =
        static_cast<int32_t>(rand.Chance(0.2) ? rand.Uniform(1, 150) : rand.Uniform(1, 32));
    if (rand.Chance(0.2)) r.min_tokens = static_cast<int32_t>(rand.Uniform(0, r.max_tokens));
    if (o.max_num_seqs > 1 && rand.Chance(0.4)) {
      r.n = static_cast<int32_t>(rand.Uniform(2, std::min(4, o.max_num_seqs)));
    }
    if (rand.Chance(0.5)) {
      r.sampling.temperature = 0.8f;
      r.seed = rand.Bits() | 1;
    }
    if (rand.Chance(0.2)) {
      for (int64_t k = rand.Uniform(1, 2); k > 0; --k) {
        r.stop_token_ids.push_back(static_cast<int32_t>(rand.Uniform(0, e.vocab_size - 1)));
      }
    }
    r.ignore_eos = rand.Chance(0.1);
    if (rand.Chance(0.15)) r.timeout = absl::Milliseconds(rand.Uniform(1, 3000));
    if (rand.Chance(0.05)) r.prompt_logprobs = 2;
    if (rand.Chance(0.05)) r.sampling.num_logprobs = 1;
    need_blocks = std::max(need_blocks, CeilDiv(len + r.max_tokens - 1, block_size));
    if (!rand.Chance(0.4)) at += absl::Microseconds(rand.Uniform(0, 40000));
    s.arrivals.push_back({at, std::move(r)});
  }
  e.geometry = PoolFor(rand, need_blocks, block_size, num_requests);
  s.description = Describe(c, s.arrivals.size());
  return s;
}

// What the random runs exercised, so that a change which stops a property from being tested
// (say, no more preemptions) fails instead of passing vacuously.
struct Coverage {
  int64_t preemptions = 0, preempted_then_ok = 0, cancelled = 0, timed_out = 0, rejected = 0;
  int64_t block_copies = 0, chunked_prefills = 0, stopped = 0, steps = 0;

  void Add(const Simulation& sim) {
    preemptions += sim.core().stats().num_preemptions_total;
    block_copies += sim.block_copies();
    chunked_prefills += sim.chunked_prefills();
    steps += sim.steps();
    for (const auto& [id, t] : sim.requests()) {
      const CollectedRequest& c = t.sink->collected;
      rejected += !t.add_status.ok();
      cancelled += c.status.code() == absl::StatusCode::kCancelled;
      timed_out += c.status.code() == absl::StatusCode::kDeadlineExceeded;
      preempted_then_ok += c.status.ok() && c.timings && c.timings->preemptions > 0;
      for (const CollectedSample& s : c.samples) stopped += s.finish == FinishReason::kStop;
    }
  }
};

// Seeds 1..N; N can be raised for a longer hunt (TESSERA_PROPERTY_SEEDS=100000).
uint64_t NumSeeds(uint64_t default_seeds) {
  const char* env = std::getenv("TESSERA_PROPERTY_SEEDS");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : default_seeds;
}

TEST(SchedulerPropertyTest, RandomWorkloadsKeepEveryInvariant) {
  const uint64_t num_seeds = NumSeeds(3000);
  Coverage cov;
  for (uint64_t seed = 1; seed <= num_seeds; ++seed) {
    Scenario s = RandomScenario(seed);
    SCOPED_TRACE(absl::StrCat("seed ", seed, ": ", s.description));
    Simulation sim(s.config);
    if (!sim.Run(std::move(s.arrivals)) || !sim.CheckOutcomes()) return;
    cov.Add(sim);
  }
  EXPECT_GT(cov.preemptions, 0);
  EXPECT_GT(cov.preempted_then_ok, 0) << "no preempted request resumed and finished";
  EXPECT_GT(cov.cancelled, 0);
  EXPECT_GT(cov.timed_out, 0);
  EXPECT_GT(cov.rejected, 0);
  EXPECT_GT(cov.block_copies, 0) << "no copy-on-write";
  EXPECT_GT(cov.chunked_prefills, 0);
  EXPECT_GT(cov.stopped, 0);
  std::printf(
      "%llu seeds, %lld steps: %lld preemptions (%lld requests resumed to OK), %lld "
      "cancelled, %lld timed out, %lld refused, %lld block copies, %lld partial prefills\n",
      static_cast<unsigned long long>(num_seeds), static_cast<long long>(cov.steps),
      static_cast<long long>(cov.preemptions), static_cast<long long>(cov.preempted_then_ok),
      static_cast<long long>(cov.cancelled), static_cast<long long>(cov.timed_out),
      static_cast<long long>(cov.rejected), static_cast<long long>(cov.block_copies),
      static_cast<long long>(cov.chunked_prefills));
}

// Unified paging on top of a random workload: most requests use one of a few LoRA adapters that
// the fake engine stores in KV blocks (0 to 8 each: 0 as the CPU engine, which keeps adapters
// outside the pool), over 1 to 4 slots, with or without prefetch.
// The pool is the workload's plus room for the largest adapter, so adapters are evicted and
// sequences preempted. The simulation checks the adapters' blocks after every step; the outputs
// (which depend on the adapter in the slot) prove that each request ran with its own.
void AddAdapters(Random& rand, Scenario& s) {
  FakeEngineOptions& e = s.config.engine;
  e.num_adapter_slots = static_cast<int32_t>(rand.Pick({1, 2, 4}));
  e.adapter_kv_blocks = [](const LoraWeights& w) -> absl::StatusOr<int32_t> {
    return static_cast<int32_t>(w.layers.size());
  };
  std::vector<std::shared_ptr<const AdapterRef>> adapters;
  int64_t max_blocks = 0;
  for (int64_t i = rand.Uniform(1, 6); i > 0; --i) {
    auto weights = std::make_shared<LoraWeights>();
    weights->layers.resize(rand.Pick<size_t>({0, 1, 3, 8}));
    max_blocks = std::max(max_blocks, static_cast<int64_t>(weights->layers.size()));
    auto ref = std::make_shared<AdapterRef>();
    ref->name = absl::StrCat("lora", i);
    ref->weights = std::move(weights);
    adapters.push_back(std::move(ref));
  }
  for (Arrival& a : s.arrivals) {
    if (rand.Chance(0.8)) {
      a.request.adapter = adapters[rand.Uniform(0, static_cast<int64_t>(adapters.size()) - 1)];
    }
  }
  e.geometry.num_blocks += static_cast<int32_t>(max_blocks);
  s.config.options.adapter_prefetch_depth = static_cast<int32_t>(rand.Pick({0, 1, 4}));
  s.description = absl::StrCat(Describe(s.config, s.arrivals.size()), ", ", e.num_adapter_slots,
                               " adapter slots, ", adapters.size(), " adapters up to ", max_blocks,
                               " blocks, prefetch depth ", s.config.options.adapter_prefetch_depth);
}

TEST(SchedulerPropertyTest, RandomAdapterWorkloadsKeepEveryInvariant) {
  const uint64_t num_seeds = NumSeeds(3000) / 3;
  Coverage cov;
  int64_t loads = 0, prefetches = 0, evictions = 0, adapter_requests_ok = 0;
  for (uint64_t seed = 1; seed <= num_seeds; ++seed) {
    Scenario s = RandomScenario(seed + 1000000);  // not the workloads of the test above
    Random rand(seed * 104729);
    AddAdapters(rand, s);
    SCOPED_TRACE(absl::StrCat("seed ", seed, ": ", s.description));
    Simulation sim(s.config);
    if (!sim.Run(std::move(s.arrivals)) || !sim.CheckOutcomes()) return;
    cov.Add(sim);
    const SchedulerStats& stats = sim.core().stats();
    loads += stats.adapter_loads_total;
    prefetches += stats.adapter_prefetches_total;
    evictions += stats.adapter_evictions_total;
    for (const auto& [id, t] : sim.requests()) {
      adapter_requests_ok += t.request.adapter != nullptr && t.sink->collected.status.ok();
    }
  }
  EXPECT_GT(cov.preemptions, 0);
  EXPECT_GT(cov.preempted_then_ok, 0);
  EXPECT_GT(adapter_requests_ok, 0);
  EXPECT_GT(loads, 0);
  EXPECT_GT(prefetches, 0);
  EXPECT_GT(evictions, 0);
  std::printf(
      "%llu seeds, %lld steps: %lld preemptions, %lld adapter requests OK, %lld adapter loads "
      "(%lld prefetched), %lld evictions\n",
      static_cast<unsigned long long>(num_seeds), static_cast<long long>(cov.steps),
      static_cast<long long>(cov.preemptions), static_cast<long long>(adapter_requests_ok),
      static_cast<long long>(loads), static_cast<long long>(prefetches),
      static_cast<long long>(evictions));
}

// Prefix caching on top of a random workload: most prompts start with one of a few shared
// prefixes, of lengths on, just before and just after block boundaries (prompts keep their
// length, so the pool still fits the largest request), some requests repeat another's prompt
// whole, a few carry a cache_salt, and the cache is scoped by tenant or global. The fake engine
// checks that every KV slot a sequence reads holds its own prefix's fingerprint, so a block taken
// from the cache with the wrong content, one evicted while referenced, or one written after being
// cached fails the step; the simulation checks the block manager's invariants (reference counts,
// cached keys, free and evictable lists) after every step, and the outputs at the end.
void ShareRandomPrefixes(Random& rand, Scenario& s) {
  SchedulerOptions& o = s.config.options;
  o.prefix_cache_scope = rand.Chance(0.5) ? PrefixCacheScope::kTenant : PrefixCacheScope::kGlobal;
  const int64_t bs = s.config.engine.geometry.block_size;
  std::vector<std::vector<int32_t>> prefixes;
  for (int64_t i = rand.Uniform(1, 3); i > 0; --i) {
    const int64_t blocks = rand.Uniform(1, 6);
    const int64_t len = std::max<int64_t>(1, blocks * bs + rand.Pick<int64_t>({-1, 0, 0, 1}));
    std::vector<int32_t> p;
    for (int64_t j = 0; j < len; ++j) {
      p.push_back(static_cast<int32_t>(rand.Uniform(0, s.config.engine.vocab_size - 1)));
    }
    prefixes.push_back(std::move(p));
  }
  const std::vector<int32_t>* previous = nullptr;
  for (Arrival& a : s.arrivals) {
    std::vector<int32_t>& prompt = a.request.prompt_token_ids;
    if (previous != nullptr && previous->size() == prompt.size() && rand.Chance(0.2)) {
      prompt = *previous;  // a repeated prompt: cached whole but its last token
    } else if (rand.Chance(0.8)) {
      const auto& p = prefixes[rand.Uniform(0, static_cast<int64_t>(prefixes.size()) - 1)];
      std::copy_n(p.begin(), std::min(p.size(), prompt.size()), prompt.begin());
    }
    if (rand.Chance(0.1)) a.request.cache_salt = rand.Pick({"x", "y"});
    previous = &prompt;
  }
  s.description = absl::StrCat(
      Describe(s.config, s.arrivals.size()), ", ", prefixes.size(), " shared prefixes, scope ",
      o.prefix_cache_scope == PrefixCacheScope::kTenant ? "tenant" : "global");
}

TEST(SchedulerPropertyTest, RandomSharedPrefixWorkloadsKeepEveryInvariant) {
  const uint64_t num_seeds = NumSeeds(3000) / 3;
  Coverage cov;
  int64_t hits = 0, evictions = 0, cached_requests = 0;
  for (uint64_t seed = 1; seed <= num_seeds; ++seed) {
    Scenario s = RandomScenario(seed + 2000000);  // not the workloads of the tests above
    Random rand(seed * 7919);
    ShareRandomPrefixes(rand, s);
    SCOPED_TRACE(absl::StrCat("seed ", seed, ": ", s.description));
    Simulation sim(s.config);
    if (!sim.Run(std::move(s.arrivals)) || !sim.CheckOutcomes()) return;
    cov.Add(sim);
    hits += sim.core().stats().prefix_cache_hits_total;
    evictions += sim.core().blocks().num_evictions();
    for (const auto& [id, t] : sim.requests()) {
      const CollectedRequest& c = t.sink->collected;
      cached_requests += c.status.ok() && c.timings && c.timings->cached_prompt_tokens > 0;
    }
  }
  EXPECT_GT(cov.preemptions, 0);
  EXPECT_GT(cov.preempted_then_ok, 0);
  EXPECT_GT(cov.block_copies, 0) << "no copy-on-write";
  EXPECT_GT(hits, 0);
  EXPECT_GT(cached_requests, 0) << "no request reported cached prompt tokens";
  EXPECT_GT(evictions, 0) << "no cached block was evicted";
  std::printf(
      "%llu seeds, %lld steps: %lld preemptions, %lld tokens hit, %lld requests with cached "
      "prompt tokens, %lld cached blocks evicted\n",
      static_cast<unsigned long long>(num_seeds), static_cast<long long>(cov.steps),
      static_cast<long long>(cov.preemptions), static_cast<long long>(hits),
      static_cast<long long>(cached_requests), static_cast<long long>(evictions));
}

// Identical requests of one class (same prompt length and max_tokens) get their first token in
// arrival order, whatever the batching, chunking and preemptions: FCFS starves no one. Both classes
// run at once, so batch requests are also preempted and aged in between.
TEST(SchedulerPropertyTest, IdenticalRequestsOfAClassStartInArrivalOrder) {
  for (uint64_t seed = 1; seed <= NumSeeds(3000) / 3; ++seed) {
    Random rand(seed * 7919);
    SimulationConfig c;
    c.seed = seed;
    c.options.max_num_batched_tokens = rand.Pick({1, 7, 64, 2048});
    c.options.max_num_seqs = rand.Pick({1, 3, 256});
    c.options.batch_max_wait = rand.Pick({absl::Milliseconds(30), absl::Seconds(10)});
    c.engine.eos_probability = 0;
    c.engine.max_position_embeddings = 512;
    const int32_t block_size = rand.Pick({1, 4, 16});
    const int64_t budget = c.options.max_num_batched_tokens;
    const int num_requests =
        static_cast<int>(budget == 1 ? rand.Uniform(2, 6) : rand.Uniform(3, 24));
    // One shape per class.
    int64_t prompt[2], max_tokens[2], need_blocks = 1;
    for (int k = 0; k < 2; ++k) {
      prompt[k] = rand.Uniform(1, budget == 1 ? 30 : 120);
      max_tokens[k] = rand.Uniform(1, 20);
      need_blocks = std::max(need_blocks, CeilDiv(prompt[k] + max_tokens[k] - 1, block_size));
    }
    std::vector<Arrival> arrivals;
    std::vector<std::string> ids[2];  // per class, in arrival order
    absl::Duration at;
    for (int i = 0; i < num_requests; ++i) {
      const int k = rand.Chance(0.6) ? 0 : 1;
      GenerateRequest r;
      r.id = absl::StrCat("r", i);
      r.priority = k == 0 ? Priority::kInteractive : Priority::kBatch;
      r.prompt_token_ids.assign(prompt[k], 5 + i);
      r.max_tokens = static_cast<int32_t>(max_tokens[k]);
      if (!rand.Chance(0.3)) at += absl::Microseconds(rand.Uniform(0, 20000));
      ids[k].push_back(r.id);
      arrivals.push_back({at, std::move(r)});
    }
    c.engine.geometry = PoolFor(rand, need_blocks, block_size, num_requests);
    SCOPED_TRACE(absl::StrCat("seed ", seed, ": ", Describe(c, arrivals.size())));
    Simulation sim(c);
    if (!sim.Run(std::move(arrivals)) || !sim.CheckOutcomes()) return;
    for (int k = 0; k < 2; ++k) {
      for (size_t i = 1; i < ids[k].size(); ++i) {
        const auto& earlier = *sim.requests().at(ids[k][i - 1]).sink;
        const auto& later = *sim.requests().at(ids[k][i]).sink;
        ASSERT_LE(*earlier.first_token_step, *later.first_token_step)
            << ids[k][i] << " got its first token before " << ids[k][i - 1];
      }
    }
  }
}

// Batch requests queued behind a never-ending stream of interactive ones still finish while the
// stream goes on, soon after batch_max_wait: then a batch request is admitted first and must keep
// its progress (before the fix, a batch request that interactive ones kept preempting finished only
// once the stream stopped). Each case saturates a different resource.
TEST(SchedulerPropertyTest, BatchRequestsFinishUnderContinuousInteractiveLoad) {
  struct Case {
    const char* name;
    int32_t max_num_seqs, num_blocks, budget, interactive_in_flight;
  };
  const Case cases[] = {
      {"sequence slots", 2, 1000, 64, 6},
      {"KV blocks", 256, 40, 2048, 16},
      {"token budget", 256, 1000, 48, 12},
      {"KV blocks and token budget", 256, 40, 48, 16},
  };
  const absl::Duration load_for = absl::Seconds(15);
  const absl::Duration bound = absl::Seconds(5);  // 5 x batch_max_wait
  for (const Case& k : cases) {
    for (uint64_t seed = 1; seed <= 3; ++seed) {
      SCOPED_TRACE(absl::StrCat(k.name, ", seed ", seed));
      SimulationConfig c;
      c.seed = seed;
      c.options.max_num_seqs = k.max_num_seqs;
      c.options.max_num_batched_tokens = k.budget;
      c.options.batch_max_wait = absl::Seconds(1);
      c.engine.geometry = {k.num_blocks, 16};
      c.engine.eos_probability = 0;
      c.max_tick = absl::Milliseconds(20);
      Simulation sim(c);
      const absl::Time start = sim.now();
      int next = 0;
      sim.between_steps = [&](Simulation& s) {
        int32_t interactive = 0;
        for (const auto& [id, t] : s.requests()) {
          interactive += t.request.priority == Priority::kInteractive && t.sink->num_final == 0;
        }
        for (; s.now() < start + load_for && interactive < k.interactive_in_flight; ++interactive) {
          GenerateRequest r;
          r.id = absl::StrCat("i", next++);
          r.prompt_token_ids.assign(40, 3);
          r.max_tokens = 30;
          s.Add(std::move(r));
        }
      };
      // 1, 2 or 3 batch requests: a lone one is the easiest to starve.
      const int num_batch = static_cast<int>(seed);
      std::vector<Arrival> batch;
      for (int i = 0; i < num_batch; ++i) {
        GenerateRequest r;
        r.id = absl::StrCat("batch", i);
        r.priority = Priority::kBatch;
        r.prompt_token_ids.assign(i == 1 ? 20 : 200, 4 + i);  // 200: longer than some budgets
        r.max_tokens = 150;
        batch.push_back({absl::Milliseconds(10), std::move(r)});
      }
      ASSERT_TRUE(sim.Run(std::move(batch)));
      ASSERT_TRUE(sim.CheckOutcomes());
      for (int i = 0; i < num_batch; ++i) {
        const auto& sink = *sim.requests().at(absl::StrCat("batch", i)).sink;
        EXPECT_LT(*sink.final_time, start + bound)
            << "batch" << i << " took " << (*sink.final_time - start) << ", "
            << sink.collected.timings->preemptions << " preemptions";
      }
    }
  }
}

}  // namespace
}  // namespace tessera
