// A fake Engine for scheduler tests: no model math, but a KV cache that remembers what each slot
// holds, so that a scheduler bug which makes a sequence read KV it did not write (a block reused
// without being recomputed, a missing copy-on-write, a wrong page table) fails the step.
//
// The "model": every KV slot holds the fingerprint of the token prefix that ends at its position
// (a hash chained over (token, position) pairs, as a real KV entry depends on the whole prefix
// before it). Feeding tokens at positions p.. writes (token, p, fingerprint) into the slots the
// page table names, in plan order (a sequence may read what one earlier in the plan writes in the
// same step, as a real engine writes every K/V before attention reads); every sequence of a step
// then re-walks its own page table from position 0 and checks that each slot holds the link of
// one unbroken chain, after the plan's block copies and all of the step's writes. The
// sampled token is a pure function of the fingerprint read back from the cache (and the seed when
// temperature > 0), and a sampling step also checks that every position past the prompt holds the
// token the sequence itself sampled there (so a sample reading a sibling's KV is caught). Hence:
//   - outputs do not depend on batching, chunking or preemption, and a test can compute them
//     independently with Extend/NextToken;
//   - a cache holding another sequence's (consistent) prefix still changes the output.
// A broken invariant is returned as an INTERNAL error naming the step, sequence and position (the
// scheduler then aborts everything, which a test sees at once).
//
// LoRA (when num_adapter_slots > 0): slots filled by SetAdapter, each adapter stored in exactly
// AdapterKvBlocks(weights) blocks of the KV pool (unified paging). SetAdapter refuses a wrong
// count, repeated or out-of-range ids, and blocks another slot holds; a step fails when a sequence
// names an empty slot, or when its page table or a block copy names a block an adapter holds. A
// sequence's sampled tokens depend on the adapter in its slot (AdapterTag), so a request that ran
// with another adapter's weights -- a pinned slot refilled, say -- gets other tokens. An option
// makes the sequences of chosen adapters report non-finite logits.
//
// Every plan is recorded (counts, copies, page tables, adapters) until ClearPlans(). Not
// thread-safe, like any Engine.
#ifndef TESSERA_TESTS_SCHEDULER_FAKE_ENGINE_H_
#define TESSERA_TESTS_SCHEDULER_FAKE_ENGINE_H_

#include <cstdint>
#include <functional>
#include <memory>
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
  // LoRA slots; 0: none, and the plans' adapter slots are ignored (a wrapper may serve them).
  int32_t num_adapter_slots = 0;
  // The KV blocks an adapter takes (AdapterKvBlocks); null: none.
  std::function<absl::StatusOr<int32_t>(const LoraWeights&)> adapter_kv_blocks;
  // A load of these weights fails with this status (SetAdapter) unless OK; null: none fails.
  std::function<absl::Status(const LoraWeights&)> adapter_load_error;
  // Sequences run with these weights (null: the base model) get logits_non_finite, as a model
  // that overflows would; null: none.
  std::function<bool(const LoraWeights*)> logits_non_finite;
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
  std::vector<const LoraWeights*> adapters;  // per sequence: the weights in its slot (or null)
};

class FakeEngine final : public Engine {
 public:
  // The fingerprint of the empty prefix.
  static constexpr uint64_t kEmptyPrefix = 0x243F6A8885A308D3ull;

  explicit FakeEngine(FakeEngineOptions options);

  const ModelConfig& config() const override { return config_; }
  KvCacheGeometry kv_geometry() const override { return options_.geometry; }
  absl::StatusOr<StepResult> Step(const StepPlan& plan) override;
  int32_t num_adapter_slots() const override { return options_.num_adapter_slots; }
  absl::StatusOr<int32_t> AdapterKvBlocks(const LoraWeights& weights) const override;
  absl::Status SetAdapter(int32_t slot, std::shared_ptr<const LoraWeights> weights,
                          absl::Span<const int32_t> kv_blocks) override;

  // The pure model. Extend: the fingerprint of `prefix` followed by `token` at `pos`.
  static uint64_t Extend(uint64_t prefix, int32_t token, int64_t pos);
  // The token sampled after a prefix with `adapter` (null: the base model); greedy ignores the
  // seed.
  int32_t NextToken(uint64_t prefix, const SamplingParams& sampling,
                    const LoraWeights* adapter = nullptr) const;
  // What an adapter changes in the model: a value told apart by its weights' address (0: none).
  static uint64_t AdapterTag(const LoraWeights* adapter);

  // The adapter in `slot` and the blocks it is stored in.
  const LoraWeights* adapter(int32_t slot) const { return adapters_[slot].weights.get(); }
  const std::vector<int32_t>& adapter_blocks(int32_t slot) const { return adapters_[slot].blocks; }
  int64_t num_adapter_loads() const { return num_adapter_loads_; }  // SetAdapter with weights

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
  // The weights in `seq`'s slot (null for the base model, or when slots are not served here).
  const LoraWeights* AdapterOf(const StepPlan& plan, int32_t seq) const;
  // Slots named by the plan are filled; no page table entry or copy names an adapter's block.
  absl::Status CheckAdapters(const StepPlan& plan) const;

  struct AdapterSlot {
    std::shared_ptr<const LoraWeights> weights;
    std::vector<int32_t> blocks;
  };

  FakeEngineOptions options_;
  ModelConfig config_;
  std::vector<Slot> kv_;  // num_blocks * block_size
  std::vector<AdapterSlot> adapters_;
  std::vector<int32_t> block_adapter_;  // per block: the slot storing its adapter there, or -1
  int64_t num_adapter_loads_ = 0;
  std::vector<PlanRecord> plans_;
  int64_t num_steps_ = 0;
};

}  // namespace tessera::testing

#endif  // TESSERA_TESTS_SCHEDULER_FAKE_ENGINE_H_
