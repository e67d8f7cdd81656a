// The prefix cache on the golden fixtures (tiny-llama and its PEFT adapters, CPU engine): every
// output -- tokens and log-probabilities, bit for bit -- is the same with the cache on and off, for
// repeated prompts, prefixes of every length around block boundaries, n > 1, adapters (and a
// reloaded adapter version), and preemption; and the repeated prompts still match transformers'
// greedy tokens. The CPU engine is batch- and chunk-invariant bit for bit, and a cached prefix is
// a chunk boundary like any other, so equality must be exact.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "adapters/peft_loader.h"
#include "engine/cpu/cpu_engine.h"
#include "scheduler/clock.h"
#include "scheduler/scheduler_core.h"
#include "tests/engine/cpu/golden_reference.h"
#include "tests/scheduler/scheduler_test_util.h"

namespace tessera {
namespace {

constexpr int32_t kBlockSize = 4;
const std::string kFixtures = TESSERA_FIXTURES_DIR;
const std::string kModelDir = kFixtures + "/models/tiny-llama";

struct RunResult {
  std::map<std::string, CollectedRequest> requests;
  SchedulerStats stats;
};

class PrefixCacheGoldenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kModelDir + "/config.json") ||
        !std::filesystem::exists(kFixtures + "/adapters/tiny-llama-r4-mlp")) {
      GTEST_SKIP() << "fixtures not found at " << kFixtures;
    }
    cases_ = LoadGoldenCases(kFixtures + "/refs/tiny-llama.public.json");
    ASSERT_EQ(cases_.size(), 8u);
    auto engine = NewEngine(64);
    for (const char* name : {"tiny-llama-r8-all", "tiny-llama-r16-attn", "tiny-llama-r4-mlp"}) {
      absl::StatusOr<PeftAdapter> a =
          LoadPeftAdapter(kFixtures + "/adapters/" + name, engine->config());
      ASSERT_TRUE(a.ok()) << a.status();
      auto ref = std::make_shared<AdapterRef>();
      ref->name = name;
      ref->version = 1;
      ref->weights = a->weights;
      adapters_[name] = ref;
    }
    // The r16 adapter reloaded from the same files: another version of the same weights.
    auto reloaded = std::make_shared<AdapterRef>(*adapters_["tiny-llama-r16-attn"]);
    reloaded->version = 2;
    adapters_["r16-v2"] = reloaded;
  }

  static std::unique_ptr<CpuEngine> NewEngine(int32_t num_blocks) {
    CpuEngineOptions o;
    o.block_size = kBlockSize;
    o.num_kv_blocks = num_blocks;
    o.num_threads = 1;
    auto engine = CpuEngine::Load(kModelDir, o);
    EXPECT_TRUE(engine.ok()) << engine.status();
    return engine.ok() ? *std::move(engine) : nullptr;
  }

  // Runs each wave to completion before adding the next (so later waves find earlier ones'
  // blocks cached).
  static RunResult Run(bool cache, int32_t num_blocks, int32_t budget,
                       const std::vector<std::vector<GenerateRequest>>& waves) {
    auto engine = NewEngine(num_blocks);
    ManualClock clock;
    SchedulerOptions o;
    o.enable_prefix_caching = cache;
    o.max_num_batched_tokens = budget;
    SchedulerCore core(*engine, nullptr, clock, o);
    testing::Driver d(core);
    RunResult out;
    for (const auto& wave : waves) {
      for (const GenerateRequest& r : wave) EXPECT_TRUE(d.Add(r).ok()) << r.id;
      EXPECT_TRUE(d.RunToCompletion());
      EXPECT_TRUE(core.blocks().CheckInvariants().ok()) << core.blocks().CheckInvariants();
    }
    EXPECT_EQ(core.blocks().num_free_blocks(), num_blocks) << "leaked KV blocks";
    for (const auto& wave : waves) {
      for (const GenerateRequest& r : wave) out.requests[r.id] = d.result(r.id);
    }
    out.stats = core.stats();
    return out;
  }

  static void ExpectSameOutputs(const RunResult& off, const RunResult& on) {
    ASSERT_EQ(off.requests.size(), on.requests.size());
    for (const auto& [id, want] : off.requests) {
      const CollectedRequest& got = on.requests.at(id);
      ASSERT_TRUE(want.status.ok() && got.status.ok()) << id << ": " << got.status;
      ASSERT_EQ(got.samples.size(), want.samples.size()) << id;
      for (size_t s = 0; s < want.samples.size(); ++s) {
        EXPECT_EQ(got.samples[s].token_ids, want.samples[s].token_ids) << id << " sample " << s;
        ASSERT_EQ(got.samples[s].logprobs.size(), want.samples[s].logprobs.size()) << id;
        for (size_t t = 0; t < want.samples[s].logprobs.size(); ++t) {
          EXPECT_EQ(got.samples[s].logprobs[t].chosen.logprob,
                    want.samples[s].logprobs[t].chosen.logprob)
              << id << " sample " << s << " token " << t;
        }
      }
    }
  }

  GenerateRequest Greedy(const std::string& id, std::vector<int32_t> prompt, int32_t max_tokens,
                         const std::string& adapter = "") {
    GenerateRequest r = GreedyRequest(cases_[0], id);
    r.prompt_token_ids = std::move(prompt);
    r.max_tokens = max_tokens;
    if (!adapter.empty()) r.adapter = adapters_.at(adapter);
    return r;
  }

  std::vector<GoldenCase> cases_;
  std::map<std::string, std::shared_ptr<const AdapterRef>> adapters_;
};

TEST_F(PrefixCacheGoldenTest, OutputsAreIdenticalWithTheCacheOnAndOff) {
  const GoldenCase& longest =
      *std::max_element(cases_.begin(), cases_.end(), [](const GoldenCase& a, const GoldenCase& b) {
        return a.prompt_ids.size() < b.prompt_ids.size();
      });
  const std::vector<int32_t>& p = longest.prompt_ids;
  ASSERT_GE(p.size(), 130u);
  std::vector<std::vector<GenerateRequest>> waves(2);
  for (size_t i = 0; i < cases_.size(); ++i) {
    waves[0].push_back(GreedyRequest(cases_[i], "cold" + std::to_string(i)));
    waves[1].push_back(GreedyRequest(cases_[i], "repeat" + std::to_string(i)));
  }
  waves[0].push_back(Greedy("r8-cold", p, 8, "tiny-llama-r8-all"));
  waves[0].push_back(Greedy("r16-cold", p, 8, "tiny-llama-r16-attn"));
  // Prefixes of the longest prompt cut around block boundaries, each with its own tail (so only
  // the shared part can hit).
  for (int64_t k : {1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 63, 64, 65, 127, 128, 129}) {
    std::vector<int32_t> prompt(p.begin(), p.begin() + k);
    for (int j = 0; j < 3; ++j) prompt.push_back(static_cast<int32_t>(1000 + 37 * k + j));
    waves[1].push_back(Greedy("prefix" + std::to_string(k), prompt, 6));
  }
  // n > 1: the first sample computes the prompt but its last token, the others fork from it.
  GenerateRequest samples = SeededSamplingRequest(cases_[3], "n3", 7);
  samples.n = 3;
  waves[1].push_back(samples);
  waves[1].push_back(Greedy("r8-warm", p, 8, "tiny-llama-r8-all"));  // hits r8-cold's
  waves[1].push_back(Greedy("r16-v2", p, 8, "r16-v2"));              // a reload misses
  waves[1].push_back(Greedy("r4-new", p, 8, "tiny-llama-r4-mlp"));   // never another's
  const RunResult off = Run(false, 2048, 64, waves);
  const RunResult on = Run(true, 2048, 64, waves);  // roomy: nothing is evicted
  ExpectSameOutputs(off, on);
  EXPECT_EQ(off.stats.prefix_cache_hits_total, 0);
  EXPECT_GT(on.stats.prefix_cache_hits_total, 0);

  auto cached = [&](const std::string& id) {
    return on.requests.at(id).timings->cached_prompt_tokens;
  };
  for (size_t i = 0; i < cases_.size(); ++i) {
    const int64_t len = static_cast<int64_t>(cases_[i].prompt_ids.size());
    // Full blocks, but never the last prompt token (it is fed to sample).
    EXPECT_EQ(cached("repeat" + std::to_string(i)), (len - 1) / kBlockSize * kBlockSize) << i;
    // The cached run still gives transformers' greedy tokens (up to a near tie).
    const CollectedSample& s = on.requests.at("repeat" + std::to_string(i)).samples[0];
    for (size_t t = 0; t < cases_[i].greedy.size() && cases_[i].margins[t] >= 1e-3; ++t) {
      ASSERT_EQ(s.token_ids[t], cases_[i].greedy[t]) << "case " << i << " step " << t;
    }
  }
  for (int64_t k : {1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 63, 64, 65, 127, 128, 129}) {
    EXPECT_EQ(cached("prefix" + std::to_string(k)), k / kBlockSize * kBlockSize) << k;
  }
  EXPECT_GT(cached("r8-warm"), 0);
  EXPECT_EQ(cached("r16-v2"), 0);
  EXPECT_EQ(cached("r4-new"), 0);
}

TEST_F(PrefixCacheGoldenTest, PreemptedRequestsGiveTheSameOutputsWithTheCacheOn) {
  std::vector<std::vector<GenerateRequest>> waves(1);
  for (size_t i = 0; i < cases_.size(); ++i) {
    waves[0].push_back(GreedyRequest(cases_[i], "a" + std::to_string(i)));
    // The same prompts again in the same wave: they hit whatever the others computed already.
    GenerateRequest again = SeededSamplingRequest(cases_[i], "b" + std::to_string(i), 11 + i);
    if (i % 3 == 0) again.n = 2;
    waves[0].push_back(again);
  }
  const RunResult roomy_off = Run(false, 1024, 64, waves);
  // 56 blocks of 4 tokens: the longest request alone takes 55.
  const RunResult tight_on = Run(true, 56, 64, waves);
  EXPECT_EQ(roomy_off.stats.num_preemptions_total, 0);
  EXPECT_GT(tight_on.stats.num_preemptions_total, 0);
  EXPECT_GT(tight_on.stats.prefix_cache_hits_total, 0);
  ExpectSameOutputs(roomy_off, tight_on);
}

}  // namespace
}  // namespace tessera
