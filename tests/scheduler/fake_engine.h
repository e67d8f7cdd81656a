// A fake Engine for scheduler tests: no model math, but a KV cache that remembers what each slot
// holds, so that a scheduler bug which makes a sequence read KV it did not write (a block reused
// without being recomputed, a missing copy-on-write, a wrong page table) fails the step.
//
// The "model": every KV slot holds the fingerprint of the token prefix that ends at its position
// (a hash chained over (token, position) pairs, as a real KV entry depends on the whole prefix
// before it). Feeding tokens at positions p.. writes (token, p, fingerprint) into the slots the
// page table names; every sequence of a step then re-walks its own page table from position 0 and
// checks that each slot holds the link of one unbroken chain, after the plan's block copies and
// all of the step's writes (a real engine also writes every K/V before attention reads). The
// sampled token is a pure function of the fingerprint read back from the cache (and the seed when
// temperature > 0), and a sampling step also checks that every position past the prompt holds the
// token the sequence itself sampled there (so a sample reading a sibling's KV is caught). Hence:
//   - outputs do not depend on batching, chunking or preemption, and a test can compute them
//     independently with Extend/NextToken;
//   - a cache holding another sequence's (consistent) prefix still changes the output.
// A broken invariant is returned as an INTERNAL error naming the step, sequence and position (the
// scheduler then aborts everything, which a test sees at once).
//
// Every plan is recorded (counts, copies, page tables) until ClearPlans(). Not thread-safe, like
// any Engine.
#ifndef TESSERA_TESTS_SCHEDULER_FAKE_ENGINE_H_
#define TESSERA_TESTS_SCHEDULER_FAKE_ENGINE_H_

#include <cstdint>
#include <vector>

#include "engine/engine.h"

namespace tessera::testing {

struct FakeEngineOptions {
  int64_t vocab_size = 256;
  int64_t max_position_embeddings = 4096;
  std::vector<int64_t> eos_token_ids = {0};
  // Chance that NextToken returns the first EOS id instead of a hashed token.
  double eos_probability = 0.02;
  KvCacheGeometry geometry{/*num_blocks=*/256, /*block_size=*/16};
};

// What the fake saw of one step's plan.
struct PlanRecord {
  int32_t num_tokens = 0;
  int32_t num_seqs = 0;
  std::vector<int32_t> num_fed;  // per sequence
  std::vector<int64_t> num_cached;
  std::vector<bool> sample;
  std::vector<BlockCopy> block_copies;
  PageTable page_table;
};

class FakeEngine final : public Engine {
 public:
  // The fingerprint of the empty prefix.
  static constexpr uint64_t kEmptyPrefix = 0x243F6A8885A308D3ull;

  explicit FakeEngine(FakeEngineOptions options);

  const ModelConfig& config() const override { return config_; }
  KvCacheGeometry kv_geometry() const override { return options_.geometry; }
  absl::StatusOr<StepResult> Step(const StepPlan& plan) override;

  // The pure model. Extend: the fingerprint of `prefix` followed by `token` at `pos`.
  static uint64_t Extend(uint64_t prefix, int32_t token, int64_t pos);
  // The token sampled after a prefix (greedy ignores the seed).
  int32_t NextToken(uint64_t prefix, const SamplingParams& sampling) const;

  const std::vector<PlanRecord>& plans() const { return plans_; }
  void ClearPlans() { plans_.clear(); }
  int64_t num_steps() const { return num_steps_; }

 private:
  struct Slot {
    bool written = false;
    int32_t token = 0;
    int64_t pos = 0;
    uint64_t fingerprint = 0;
  };
  Slot& SlotOf(const PageTable& pt, int32_t seq, int64_t pos);
  void CopyBlocks(const std::vector<BlockCopy>& copies);
  // Re-walks sequence `seq`'s chain over [0, kv_len); returns the last fingerprint.
  absl::StatusOr<uint64_t> CheckChain(const StepPlan& plan, int32_t seq, int64_t kv_len);

  FakeEngineOptions options_;
  ModelConfig config_;
  std::vector<Slot> kv_;  // num_blocks * block_size
  std::vector<PlanRecord> plans_;
  int64_t num_steps_ = 0;
};

}  // namespace tessera::testing

#endif  // TESSERA_TESTS_SCHEDULER_FAKE_ENGINE_H_
