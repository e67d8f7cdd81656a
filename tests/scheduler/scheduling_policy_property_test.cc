// Ordering and budgets change only timing: the same random workload run under each scheduling
// policy (fcfs, priority) over the fake engine gives every request the same tokens and finish
// reasons, while the policies do schedule it differently (checked, so the property cannot hold
// vacuously). Workloads mix priorities, chunked prefills, n > 1, preemption and LoRA adapters;
// they have no cancellations, timeouts or queue bounds, whose outcomes depend on timing.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/scheduler/scheduler_simulation.h"

namespace tessera {
namespace {

using ::tessera::testing::Arrival;
using ::tessera::testing::Simulation;
using ::tessera::testing::SimulationConfig;

struct Workload {
  SimulationConfig config;
  std::vector<Arrival> arrivals;
};

Workload RandomWorkload(uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  Workload w;
  SimulationConfig& c = w.config;
  c.seed = seed;
  const int64_t budgets[] = {7, 64, 2048};
  c.options.max_num_batched_tokens = static_cast<int32_t>(budgets[uniform(0, 2)]);
  const int32_t seqs[] = {1, 3, 256};
  c.options.max_num_seqs = seqs[uniform(0, 2)];
  c.options.batch_max_wait = absl::Milliseconds(uniform(20, 400));
  c.engine.vocab_size = 300;
  c.engine.eos_token_ids = {1};
  c.engine.eos_probability = 0.03;
  c.engine.max_position_embeddings = 512;
  c.max_tick = absl::Milliseconds(uniform(1, 20));
  const int32_t block_size = static_cast<int32_t>(uniform(0, 1) == 0 ? 4 : 16);
  std::vector<std::shared_ptr<const AdapterRef>> adapters;
  if (chance(0.3)) {
    c.engine.num_adapter_slots = static_cast<int32_t>(uniform(1, 2));
    c.engine.adapter_kv_blocks = [](const LoraWeights& wt) -> absl::StatusOr<int32_t> {
      return static_cast<int32_t>(wt.layers.size());
    };
    for (int i = 0; i < 3; ++i) {
      auto weights = std::make_shared<LoraWeights>();
      weights->layers.resize(static_cast<size_t>(uniform(0, 3)));
      auto ref = std::make_shared<AdapterRef>();
      ref->name = absl::StrCat("lora", i);
      ref->weights = std::move(weights);
      adapters.push_back(std::move(ref));
    }
  }
  const int num_requests = static_cast<int>(uniform(3, 24));
  int64_t need_blocks = 1;
  absl::Duration at;
  for (int i = 0; i < num_requests; ++i) {
    GenerateRequest r;
    r.id = absl::StrCat("r", i);
    r.priority = chance(0.4) ? Priority::kBatch : Priority::kInteractive;
    const int64_t len = uniform(1, 150);
    for (int64_t j = 0; j < len; ++j) {
      r.prompt_token_ids.push_back(static_cast<int32_t>(uniform(2, 299)));
    }
    r.max_tokens = static_cast<int32_t>(uniform(1, 40));
    if (c.options.max_num_seqs > 1 && chance(0.3)) {
      r.n = static_cast<int32_t>(uniform(2, std::min(3, c.options.max_num_seqs)));
    }
    if (chance(0.5)) {
      r.sampling.temperature = 0.8f;
      r.seed = rng();  // sampled, and the same draws under every policy
    }
    if (!adapters.empty() && chance(0.7)) r.adapter = adapters[uniform(0, 2)];
    // Targets and tenants for the slo policy to order by (tight ones included).
    if (chance(0.6)) r.ttft_target = absl::Milliseconds(uniform(1, 300));
    if (chance(0.6)) r.tpot_target = absl::Milliseconds(uniform(1, 40));
    r.tenant = absl::StrCat("t", uniform(0, 2));
    need_blocks =
        std::max<int64_t>(need_blocks, (len + r.max_tokens - 1 + block_size - 1) / block_size);
    if (chance(0.6)) at += absl::Milliseconds(uniform(0, 30));
    w.arrivals.push_back({at, std::move(r)});
  }
  // Tight pools preempt; the adapters' blocks come on top of the largest request's.
  const int64_t extra = chance(0.5) ? uniform(0, 6) : need_blocks * num_requests;
  c.engine.geometry = {static_cast<int32_t>(need_blocks + extra + 3), block_size};
  return w;
}

// Request ids in the order their first tokens came (ties by id).
std::vector<std::string> FirstTokenOrder(const Simulation& sim) {
  std::vector<std::pair<int64_t, std::string>> firsts;
  for (const auto& [id, t] : sim.requests()) {
    firsts.emplace_back(t.sink->first_token_step.value_or(-1), id);
  }
  std::sort(firsts.begin(), firsts.end());
  std::vector<std::string> ids;
  for (auto& [step, id] : firsts) ids.push_back(std::move(id));
  return ids;
}

uint64_t NumSeeds(uint64_t default_seeds) {
  const char* env = std::getenv("TESSERA_PROPERTY_SEEDS");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : default_seeds;
}

TEST(SchedulingPolicyPropertyTest, TokensAreTheSameUnderEveryPolicy) {
  const SchedulingPolicyKind kinds[] = {SchedulingPolicyKind::kPriority,
                                        SchedulingPolicyKind::kFcfs, SchedulingPolicyKind::kSlo};
  constexpr int kKinds = 3;
  int64_t reordered = 0, slo_reordered = 0, preemptions[kKinds] = {0, 0, 0};
  int64_t adapter_requests = 0, sampled = 0;
  const uint64_t num_seeds = NumSeeds(600);
  for (uint64_t seed = 1; seed <= num_seeds; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    Workload w = RandomWorkload(seed);
    std::unique_ptr<Simulation> runs[kKinds];
    for (int k = 0; k < kKinds; ++k) {
      SCOPED_TRACE(SchedulingPolicyName(kinds[k]));
      SimulationConfig c = w.config;
      c.options.scheduling_policy = kinds[k];
      // A step-time model that makes the slo policy's budgets bind (the simulated clock moves at
      // random, so the fit keeps changing too).
      c.options.step_time_prior.constant = 1e-3;
      c.options.step_time_prior.per_prefill_token = 2e-4;
      c.options.step_time_prior.per_decode_sequence = 5e-4;
      runs[k] = std::make_unique<Simulation>(c);
      if (!runs[k]->Run(w.arrivals) || !runs[k]->CheckOutcomes()) return;
      preemptions[k] += runs[k]->core().stats().num_preemptions_total;
    }
    for (int k = 1; k < kKinds; ++k) {
      for (const auto& [id, a] : runs[0]->requests()) {
        SCOPED_TRACE(SchedulingPolicyName(kinds[k]));
        const Simulation::Tracked& b = runs[k]->requests().at(id);
        ASSERT_TRUE(a.add_status.ok() && b.add_status.ok()) << id;
        const CollectedRequest& x = a.sink->collected;
        const CollectedRequest& y = b.sink->collected;
        ASSERT_EQ(x.status, y.status) << id;
        ASSERT_EQ(x.samples.size(), y.samples.size()) << id;
        for (size_t i = 0; i < x.samples.size(); ++i) {
          ASSERT_EQ(x.samples[i].token_ids, y.samples[i].token_ids) << id << " sample " << i;
          ASSERT_EQ(x.samples[i].finish, y.samples[i].finish) << id << " sample " << i;
        }
        adapter_requests += a.request.adapter != nullptr;
        sampled += a.request.sampling.temperature > 0;
      }
    }
    reordered += FirstTokenOrder(*runs[0]) != FirstTokenOrder(*runs[1]);
    slo_reordered += FirstTokenOrder(*runs[0]) != FirstTokenOrder(*runs[2]);
  }
  // The policies did schedule differently, with preemptions, adapters and sampling in play.
  EXPECT_GT(reordered, static_cast<int64_t>(num_seeds) / 10);
  EXPECT_GT(slo_reordered, static_cast<int64_t>(num_seeds) / 10);
  EXPECT_GT(preemptions[0], 0);
  EXPECT_GT(preemptions[1], 0);
  EXPECT_GT(preemptions[2], 0);
  EXPECT_GT(adapter_requests, 0);
  EXPECT_GT(sampled, 0);
  std::printf(
      "%llu workloads; in another order than priority: fcfs %lld, slo %lld; preemptions: "
      "priority %lld, fcfs %lld, slo %lld\n",
      static_cast<unsigned long long>(num_seeds), static_cast<long long>(reordered),
      static_cast<long long>(slo_reordered), static_cast<long long>(preemptions[0]),
      static_cast<long long>(preemptions[1]), static_cast<long long>(preemptions[2]));
}

}  // namespace
}  // namespace tessera
