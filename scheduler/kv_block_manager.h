// Hands out KV cache blocks to sequences: the host-side allocator of the paged KV cache.
//
// Each sequence has a block table (block ids in token order). Growth is query-then-commit:
// CanAllocate(seq, n) says whether the sequence can be grown to hold n tokens; Allocate(seq, n)
// does it, all or nothing. Free(seq) returns every block of the sequence.
//
// Sharing: Fork(parent, child) gives the child the parent's blocks (the `n` samples of one prompt
// share its KV). A block is reference-counted; a sequence about to write into a shared block gets
// a private copy first (copy-on-write): Allocate with `first_written` swaps the shared block for a
// fresh one and reports the (src, dst) copy that the engine must perform before the step.
//
// A reported copy's source must keep its content until the engine has made the copy. A plan's
// copies run before its writes and in no fixed order, so a source that its last sharer lets go of
// while the plan is being formed (a preempted sample) must not come back as another copy's
// destination in that plan: it is held, neither free nor referenced, until ReleaseCopySources().
//
// Prefix cache (when enabled): a full block whose K and V are computed -- or are being computed by
// the step being planned, since engines write a step's K and V before attention reads any -- may
// be given a content key (CacheBlock; block_hash.h). A sequence holding no blocks takes the longest
// run of leading blocks whose keys are cached by reference (TakeCachedPrefix), as a forked sample
// does. A cached block that no table references any more keeps its content and waits, evictable, in
// least-recently-freed order; it counts as free (num_free_blocks), and is evicted -- its key
// forgotten -- only when a block is needed and no uncached block is free. So cached content never
// costs a live sequence its blocks. A cached block is never written again: writes go to positions
// past a sequence's computed tokens, and a cached block lies wholly before them.
//
// Reserved blocks: the engine may keep other data in blocks of the same pool (LoRA adapters'
// weights: S-LoRA's unified paging). Reserve(n) takes n free blocks out for such a holder and
// Unreserve gives them back; no table references a reserved block until it is given back.
//
// Invariants: a block is free, evictable (cached, unreferenced), referenced by one or more
// sequences' tables (each reference counted once), a held copy source, or reserved; free +
// evictable + referenced + held + reserved = num_blocks; each cached key names exactly one block
// and an evictable block is cached (CheckInvariants recounts it all). Misuse (freeing an unknown
// sequence, allocating past capacity, giving back a block that is not reserved) is an error Status
// and changes nothing. Not thread-safe: the scheduler thread owns it.
#ifndef TESSERA_SCHEDULER_KV_BLOCK_MANAGER_H_
#define TESSERA_SCHEDULER_KV_BLOCK_MANAGER_H_

#include <cstdint>
#include <list>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "scheduler/block_hash.h"

namespace tessera {

using SeqId = int64_t;

// Copy every layer's K and V of block `first` into block `second`.
using BlockCopyPair = std::pair<int32_t, int32_t>;

class KvBlockManager {
 public:
  KvBlockManager(int32_t num_blocks, int32_t block_size, bool enable_prefix_caching = false);

  KvBlockManager(const KvBlockManager&) = delete;
  KvBlockManager& operator=(const KvBlockManager&) = delete;

  // Blocks that holding `num_tokens` tokens takes.
  int32_t BlocksFor(int64_t num_tokens) const;
  // Further blocks `seq` (known or not) needs to hold `num_tokens` tokens in total, when it
  // writes positions from `first_written` on (-1: none of its existing blocks) -- a shared block
  // in that range costs one block for its private copy.
  int32_t BlocksNeeded(SeqId seq, int64_t num_tokens, int64_t first_written = -1) const;
  bool CanAllocate(SeqId seq, int64_t num_tokens, int64_t first_written = -1) const;
  // Grows `seq` (creating it if new) to hold `num_tokens` tokens, and gives it private copies of
  // shared blocks holding positions >= `first_written`; the copies to perform are appended to
  // `copies`. ResourceExhausted when the free blocks do not suffice; nothing changes then.
  absl::Status Allocate(SeqId seq, int64_t num_tokens, int64_t first_written = -1,
                        std::vector<BlockCopyPair>* copies = nullptr);
  // `child` (which must hold no blocks) shares every block of `parent`.
  absl::Status Fork(SeqId parent, SeqId child);
  // Releases every block of `seq`. NotFound for a sequence that holds none (e.g. freed twice).
  absl::Status Free(SeqId seq);
  // Frees the copy sources held since the last call: call once the copies reported so far are in
  // a plan.
  void ReleaseCopySources();

  // Prefix cache (no-ops when disabled). How many leading blocks of `hashes` are cached now.
  int32_t CachedPrefixBlocks(absl::Span<const BlockHash> hashes) const;
  // `seq`, which must hold no blocks, takes the cached blocks of the leading run of `hashes` by
  // reference (at most `max_blocks` of them); returns how many. FailedPrecondition when `seq`
  // holds blocks.
  absl::StatusOr<int32_t> TakeCachedPrefix(SeqId seq, absl::Span<const BlockHash> hashes,
                                           int32_t max_blocks);
  // Records that `block` (referenced, full, its K and V computed or being computed) holds the
  // content keyed
  // `hash`. Nothing happens when the block is cached already or another block holds that
  // content (the first stays the cached one). FailedPrecondition for an unreferenced block.
  absl::Status CacheBlock(int32_t block, const BlockHash& hash);
  // Forgets `block`'s content key (no-op for a block that has none): an evictable block becomes
  // free.
  void Uncache(int32_t block);
  // Forgets every content key (the engine failed: what its last step wrote is unknown).
  void ClearCache();
  bool prefix_caching() const { return prefix_caching_; }
  bool IsCached(int32_t block) const { return is_cached_[block]; }
  // Blocks whose content is cached (referenced or evictable), and the evictable ones.
  int32_t num_cached_blocks() const { return static_cast<int32_t>(cached_.size()); }
  int32_t num_evictable_blocks() const { return static_cast<int32_t>(evictable_.size()); }
  int64_t num_evictions() const { return num_evictions_; }

  // Whether `n` blocks can be reserved now.
  bool CanReserve(int32_t n) const { return n >= 0 && n <= num_free_blocks(); }
  // Takes `n` free blocks out of the pool for a holder outside the block tables. ResourceExhausted
  // when fewer are free; nothing changes then.
  absl::StatusOr<std::vector<int32_t>> Reserve(int32_t n);
  // Gives reserved blocks back to the free ones. InvalidArgument when one is not reserved (or is
  // named twice); nothing changes then.
  absl::Status Unreserve(absl::Span<const int32_t> blocks);
  bool IsReserved(int32_t block) const { return is_reserved_[block]; }
  int32_t num_reserved_blocks() const { return num_reserved_; }

  // Recounts every block: Internal naming the first inconsistency (free + referenced + held +
  // reserved != num_blocks, a block in two of those states). O(num_blocks + table sizes): for
  // tests and debugging.
  absl::Status CheckInvariants() const;

  // The block table of `seq` (empty for an unknown sequence).
  const std::vector<int32_t>& BlockTable(SeqId seq) const;
  bool Contains(SeqId seq) const { return tables_.contains(seq); }

  int32_t num_blocks() const { return num_blocks_; }
  int32_t block_size() const { return block_size_; }
  // Blocks that can be handed out now: free ones and evictable cached ones.
  int32_t num_free_blocks() const { return static_cast<int32_t>(free_.size() + evictable_.size()); }
  int32_t num_sequences() const { return static_cast<int32_t>(tables_.size()); }
  // How many tables reference `block` (0 when free or evictable).
  int32_t RefCount(int32_t block) const { return refs_[block]; }
  // Fraction of blocks not free (reserved ones included), in [0, 1].
  double Usage() const;

 private:
  int32_t num_blocks_;
  int32_t block_size_;
  // BlocksNeeded for a sequence whose table is `table` (null: it holds none).
  int32_t TableBlocksNeeded(const std::vector<int32_t>* table, int64_t num_tokens,
                            int64_t first_written) const;
  // Index of the first block of `table` holding a position >= first_written that is shared.
  int64_t FirstSharedWritten(const std::vector<int32_t>& table, int64_t first_written) const;

  // A block for a table or a holder: a free one, else the least recently freed evictable one
  // (forgetting its key). num_free_blocks() > 0.
  int32_t PopFree();
  // `block` lost its last reference (and is no held copy source): evictable if cached, else free.
  void Release(int32_t block);

  bool prefix_caching_;
  std::vector<int32_t> free_;          // a stack: recently freed blocks are reused first
  std::vector<int32_t> refs_;          // per block: tables referencing it
  std::vector<int32_t> copy_sources_;  // sources of copies reported since ReleaseCopySources
  std::vector<bool> is_copy_source_;   // per block
  std::vector<bool> is_reserved_;      // per block
  int32_t num_reserved_ = 0;
  absl::flat_hash_map<SeqId, std::vector<int32_t>> tables_;
  // Prefix cache: key -> block, per block its key, and the evictable blocks, least recently
  // freed first (with each one's place, to take it out on a hit).
  absl::flat_hash_map<BlockHash, int32_t> cached_;
  std::vector<BlockHash> block_hash_;
  std::vector<bool> is_cached_;
  std::list<int32_t> evictable_;
  std::vector<std::list<int32_t>::iterator> evictable_pos_;
  int64_t num_evictions_ = 0;
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_KV_BLOCK_MANAGER_H_
