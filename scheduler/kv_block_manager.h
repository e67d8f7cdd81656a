// Hands out KV cache blocks to sequences: the host-side allocator of the paged KV cache.
//
// Each sequence owns a block table (block ids in token order). Growth is query-then-commit:
// CanAllocate(seq, n) says whether the sequence can be grown to hold n tokens; Allocate(seq, n)
// does it, all or nothing. Free(seq) returns every block of the sequence.
//
// Invariants: a block is either free or owned by exactly one sequence; free + owned = num_blocks.
// Misuse (freeing an unknown sequence, allocating past capacity) is an error Status and changes
// nothing. Not thread-safe: the scheduler thread owns it.
#ifndef TESSERA_SCHEDULER_KV_BLOCK_MANAGER_H_
#define TESSERA_SCHEDULER_KV_BLOCK_MANAGER_H_

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"

namespace tessera {

using SeqId = int64_t;

class KvBlockManager {
 public:
  KvBlockManager(int32_t num_blocks, int32_t block_size);

  KvBlockManager(const KvBlockManager&) = delete;
  KvBlockManager& operator=(const KvBlockManager&) = delete;

  // Blocks that holding `num_tokens` tokens takes.
  int32_t BlocksFor(int64_t num_tokens) const;
  // Further blocks `seq` (known or not) needs to hold `num_tokens` tokens in total.
  int32_t BlocksNeeded(SeqId seq, int64_t num_tokens) const;
  bool CanAllocate(SeqId seq, int64_t num_tokens) const;
  // Grows `seq` (creating it if new) to hold `num_tokens` tokens. ResourceExhausted when the
  // free blocks do not suffice; nothing changes then.
  absl::Status Allocate(SeqId seq, int64_t num_tokens);
  // Releases every block of `seq`. NotFound for a sequence that holds none (e.g. freed twice).
  absl::Status Free(SeqId seq);

  // The block table of `seq` (empty for an unknown sequence).
  const std::vector<int32_t>& BlockTable(SeqId seq) const;
  bool Contains(SeqId seq) const { return tables_.contains(seq); }

  int32_t num_blocks() const { return num_blocks_; }
  int32_t block_size() const { return block_size_; }
  int32_t num_free_blocks() const { return static_cast<int32_t>(free_.size()); }
  int32_t num_sequences() const { return static_cast<int32_t>(tables_.size()); }
  // Fraction of blocks in use, in [0, 1].
  double Usage() const;

 private:
  int32_t num_blocks_;
  int32_t block_size_;
  std::vector<int32_t> free_;  // a stack: recently freed blocks are reused first
  absl::flat_hash_map<SeqId, std::vector<int32_t>> tables_;
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_KV_BLOCK_MANAGER_H_
