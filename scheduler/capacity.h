// Capacity: what fits in the KV cache and the engine's adapter slots, apart from batch forming.
// Owns the KV block manager and the adapter pager (unified paging: resident adapters may hold KV
// blocks). It answers how much of a sequence fits, finds room -- idle adapters' blocks first,
// then by preemption, the victim chosen by the scheduling policy -- and gives a request its
// adapter's slot before admission. Preemption is by recompute: the victim's blocks are freed and
// it waits again (Requeue), later recomputing prompt + output.
//
// Prefix cache (kv_block_manager.h, block_hash.h): a waiting sequence takes its leading cached
// blocks when it is admitted, and a sequence's full blocks are offered to the cache when the step
// that computes them is planned -- prompt and output alike, so a preempted sequence's recompute
// finds its own blocks (unless they were evicted). Requests that ask for prompt log-probabilities
// take no cached blocks (every prompt position must be computed to report them), but offer theirs.
//
// A request pins its adapter's slot from its first admission to its finish; where adapters hold
// KV blocks, a request whose sequences are all preempted lets go of its pin (the adapter stays
// resident, idle), so that waiting requests never hold blocks that running ones need.
//
// Not thread-safe: the scheduler thread drives it. The engine and `state` must outlive it.
#ifndef TESSERA_SCHEDULER_CAPACITY_H_
#define TESSERA_SCHEDULER_CAPACITY_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "engine/engine.h"
#include "scheduler/adapter_load_time.h"
#include "scheduler/adapter_pager.h"
#include "scheduler/clock.h"
#include "scheduler/kv_block_manager.h"
#include "scheduler/scheduler_state.h"

namespace tessera {

class Capacity {
 public:
  // `clock` times adapter loads (the scheduler's clock, so a test's manual clock makes the
  // measured load times, and the slo ordering built on them, independent of the machine's load).
  Capacity(Engine& engine, SchedulerState& state, const SchedulerOptions& options,
           const Clock& clock);
  Capacity(const Capacity&) = delete;
  Capacity& operator=(const Capacity&) = delete;

  // The largest chunk <= `want` that fits the free blocks for `seq` (0 if none).
  int64_t FittingChunk(const Sequence& seq, int64_t want) const;
  // Whether `seq` can hold `tokens` tokens in all (writing from its num_computed on).
  bool CanAllocate(const Sequence& seq, int64_t tokens) const;
  // Grows `seq` to `tokens` tokens; CanAllocate said so. Copy-on-write copies go to `copies`.
  void Allocate(const Sequence& seq, int64_t tokens, std::vector<BlockCopyPair>* copies);
  // Evicts idle adapters (never `seq`'s own) until `seq` can hold `tokens` tokens, or none is
  // left to evict.
  void ReclaimAdapterBlocks(const Sequence& seq, int64_t tokens);
  // Makes room for running `seq` to hold `tokens` tokens: idle adapters' blocks, then preempting
  // `candidates` (sequences after it in the step's order; those no longer running are skipped)
  // as the policy chooses, then `seq` itself. False when `seq` itself was preempted.
  bool MakeRoom(Sequence* seq, int64_t tokens, absl::Span<Sequence* const> candidates,
                absl::Time now);
  // Lets the waiting head preempt running sequences (as the policy allows) until it fits a first
  // chunk of up to `budget` tokens, a sequence slot and its adapter.
  void PreemptForWaiting(absl::Time now, int64_t budget);
  void Preempt(Sequence* seq);
  // Frees `seq`'s blocks, if it holds any.
  void Free(const Sequence& seq);
  // Sample `child` shares `parent`'s blocks.
  void Fork(const Sequence& parent, const Sequence& child);

  struct AdapterAdmission {
    enum class Outcome { kReady, kWait, kFailed } outcome;
    absl::Status error =
        absl::OkStatus();  // kFailed: InvalidArgument naming the request and the adapter
  };
  // Gives `seq`'s request its adapter's slot (loading the adapter into the engine when it is not
  // resident) before it is admitted. kWait: no slot is free, or no room for the adapter's blocks.
  // kFailed: the engine refused the adapter, or it and the request cannot fit the cache together.
  AdapterAdmission PrepareAdapter(Sequence& seq);
  // How long loading `adapter` would delay a request now: zero when it is resident, else the
  // load time predicted from its size and the loads measured so far.
  absl::Duration PredictAdapterLoad(const AdapterRef& adapter) const;
  // Lets go of `r`'s adapter pin when none of its sequences runs (preempted, or finished).
  void UnpinIfWaiting(RequestState& r);
  // Lets go of `r`'s adapter pin (it finished).
  void Unpin(RequestState& r);
  // Loads the adapters of waiting requests (adapter_prefetch_depth of them, in admission order)
  // into empty slots, from blocks that the next step cannot need, so that the engine copies them
  // while this step runs.
  void PrefetchAdapters();

  // Waiting `seq`, holding no blocks, takes its leading cached blocks by reference and counts
  // their tokens computed (at least its last token is left to feed). Returns the tokens taken;
  // 0 when caching is off, for prompt log-probabilities, or on a miss.
  int64_t TakeCachedPrefix(Sequence* seq);
  // Gives back what TakeCachedPrefix took, when `seq` is not admitted after all.
  void ReturnCachedPrefix(Sequence* seq);
  // Counts `seq`'s lookup (it is being admitted, `hit` tokens found cached) in the stats and,
  // at its request's first admission, in the request's usage.
  void RecordPrefixLookup(const Sequence& seq, int64_t hit);
  // Offers to the cache `seq`'s blocks that are full once it holds `tokens` computed tokens; the
  // scheduler calls it as it plans the step that computes them, so that a sequence planned later
  // in the same step can read them (engines write every K and V of a step before any attention
  // reads them). Those not offered before.
  void OfferBlocks(Sequence* seq, int64_t tokens);
  // Forgets the content of `seq`'s cached blocks (its step's logits were not finite: its K and V
  // may be too).
  void ForgetBlocks(const Sequence& seq);
  // Before the engine sleeps (no sequence in flight): forgets the prefix cache and evicts every
  // resident adapter, whose contents the engine is about to drop.
  void DropCaches();

  const KvBlockManager& blocks() const { return blocks_; }
  KvBlockManager& blocks() { return blocks_; }
  const AdapterPager& adapters() const { return adapters_; }
  const KvCacheGeometry& geometry() const { return geometry_; }

 private:
  // Whether the blocks for `seq`'s adapter (and then its first token) can be found.
  bool AdapterHasRoom(const Sequence& seq) const;
  // Whether `seq`'s request looks up the prefix cache.
  bool LooksUpPrefixCache(const Sequence& seq) const;
  // Computes the keys of `seq`'s first `num_blocks` full blocks that it has not yet.
  void ExtendBlockHashes(Sequence* seq, int64_t num_blocks);
  // Blocks that `seq` needs to feed its next token (what an adapter load must leave free).
  int32_t FirstTokenBlocks(const Sequence& seq) const;

  const Clock& clock_;
  SchedulerState& state_;
  int32_t max_num_seqs_;
  int32_t max_num_batched_tokens_;
  int32_t adapter_prefetch_depth_;
  PrefixCacheScope prefix_cache_scope_;
  KvCacheGeometry geometry_;
  KvBlockManager blocks_;
  AdapterPager adapters_;              // after blocks_, which it uses
  std::vector<Sequence*> victims_;     // MakeRoom's candidates, reused
  std::vector<int32_t> block_tokens_;  // one block's tokens, for its key (reused)
  AdapterLoadTime load_time_;          // learns from the loads PrepareAdapter makes
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_CAPACITY_H_
