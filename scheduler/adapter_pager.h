// Which LoRA adapters the engine holds, in which slot and in which blocks of the KV page pool
// (S-LoRA's unified paging): the adapter side of capacity, over AdapterSlots (which slot, pinned
// by how many requests) and the KvBlockManager (the blocks reserved for each slot's adapter).
//
// An adapter whose slot has users (requests running with it) is pinned and never evicted. An
// idle resident adapter is a cache entry: kept so that the next request for it needs no load, and
// evicted, least recently used first, when its slot or its blocks are wanted -- by another
// adapter's load or by sequences that need KV blocks (Reclaim), before any sequence is preempted.
// A prefetch loads a waiting request's adapter into an empty slot ahead of its admission, from
// blocks nobody else needs; it stays idle (evictable) until the request takes it.
//
// On an engine that keeps adapters outside the pool (AdapterKvBlocks 0, the CPU engine) no block
// moves: Reclaim evicts nothing, Prefetch loads nothing, and Pin is AdapterSlots' LRU reuse.
//
// Invariants: a slot's blocks are reserved in the KvBlockManager and belong to that slot only;
// held_blocks() is their total; a slot without an adapter holds none. Not thread-safe (the
// scheduler thread). The engine and the block manager must outlive it.
#ifndef TESSERA_SCHEDULER_ADAPTER_PAGER_H_
#define TESSERA_SCHEDULER_ADAPTER_PAGER_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "scheduler/adapter_slots.h"
#include "scheduler/kv_block_manager.h"
#include "scheduler/request.h"

namespace tessera {

class AdapterPager {
 public:
  AdapterPager(Engine& engine, KvBlockManager& blocks);
  AdapterPager(const AdapterPager&) = delete;
  AdapterPager& operator=(const AdapterPager&) = delete;

  // KV blocks `adapter` holds (resident) or would take to load; the engine's InvalidArgument when
  // it cannot store the adapter.
  absl::StatusOr<int32_t> BlocksFor(const AdapterRef& adapter) const;

  enum class Outcome {
    kPinned,  // `slot` holds the adapter and counts one more user
    kNoSlot,  // every slot is pinned: nothing changed
    kNoRoom,  // the blocks are short even after evicting every idle adapter: nothing changed
    kFailed,  // the engine refused the adapter: `error`, nothing pinned (the slot is emptied)
  };
  struct Pinned {
    Outcome outcome = Outcome::kNoSlot;
    int32_t slot = -1;
    absl::Status error;
  };
  // Pins a slot holding `adapter` for one request, loading the adapter into the engine when it is
  // not resident: the slot is the least recently used idle one (its old adapter's blocks are
  // freed), and its `need` blocks (BlocksFor) come from the free ones, then from idle resident
  // adapters (LRU), leaving `keep_free` blocks free for the request itself.
  Pinned Pin(const AdapterRef& adapter, int32_t need, int32_t keep_free);
  // Whether Pin would find the blocks (not a slot): resident, or `need` + `keep_free` blocks free
  // once every idle adapter is evicted.
  bool HasRoom(const AdapterRef& adapter, int32_t need, int32_t keep_free) const;
  // One user of `slot` less; at none the adapter stays resident, idle.
  void Unpin(int32_t slot);

  // Evicts idle resident adapters that hold blocks, least recently used first and never `keep`
  // (null: none kept), until `need` blocks are free or none is left. Whether `need` are free.
  bool Reclaim(int32_t need, const LoraWeights* keep);
  // Evicts every idle resident adapter, blocks or not (the engine is going to sleep, and its
  // slots with it). Pinned ones stay.
  void EvictIdle();
  // Loads `adapter` into an empty slot when it takes blocks and they are free beyond `reserve`;
  // evicts nothing. True when it loaded the adapter (an engine refusal is left for the request's
  // own load to report).
  bool Prefetch(const AdapterRef& adapter, int32_t reserve);

  bool IsResident(const AdapterRef& adapter) const { return slots_.Find(adapter) >= 0; }
  bool HasEmptySlot() const { return slots_.EmptySlot() >= 0; }
  const AdapterSlots& slots() const { return slots_; }
  const std::vector<int32_t>& blocks_of(int32_t slot) const { return slot_blocks_[slot]; }
  int32_t held_blocks() const { return blocks_.num_reserved_blocks(); }
  int64_t num_loads() const { return loads_; }  // prefetches included
  int64_t num_prefetches() const { return prefetches_; }
  int64_t num_evictions() const { return evictions_; }

 private:
  // Blocks held by idle resident adapters other than `keep`.
  int32_t ReclaimableBlocks(const LoraWeights* keep) const;
  // Empties idle `slot` in the engine and gives its blocks back.
  void Evict(int32_t slot);
  // Gives `slot`'s blocks back (the engine is told separately, or the slot is being refilled).
  void FreeBlocks(int32_t slot);

  Engine& engine_;
  KvBlockManager& blocks_;
  AdapterSlots slots_;
  std::vector<std::vector<int32_t>> slot_blocks_;
  int64_t loads_ = 0;
  int64_t prefetches_ = 0;
  int64_t evictions_ = 0;
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_ADAPTER_PAGER_H_
