#include "scheduler/adapter_pager.h"

#include <utility>

namespace tessera {

AdapterPager::AdapterPager(Engine& engine, KvBlockManager& blocks)
    : engine_(engine),
      blocks_(blocks),
      slots_(engine.num_adapter_slots()),
      slot_blocks_(slots_.num_slots()) {}

absl::StatusOr<int32_t> AdapterPager::BlocksFor(const AdapterRef& adapter) const {
  const int32_t slot = slots_.Find(adapter);
  if (slot >= 0) return static_cast<int32_t>(slot_blocks_[slot].size());
  return engine_.AdapterKvBlocks(*adapter.weights);
}

int32_t AdapterPager::ReclaimableBlocks(const LoraWeights* keep) const {
  int32_t n = 0;
  for (int32_t s = 0; s < slots_.num_slots(); ++s) {
    if (slots_.users(s) == 0 && slots_.resident(s) != keep) {
      n += static_cast<int32_t>(slot_blocks_[s].size());
    }
  }
  return n;
}

bool AdapterPager::HasRoom(const AdapterRef& adapter, int32_t need, int32_t keep_free) const {
  return IsResident(adapter) ||
         int64_t{need} + keep_free <=
             int64_t{blocks_.num_free_blocks()} + ReclaimableBlocks(/*keep=*/nullptr);
}

AdapterPager::Pinned AdapterPager::Pin(const AdapterRef& adapter, int32_t need, int32_t keep_free) {
  Pinned out;
  if (!slots_.CanAcquire(adapter)) return out;
  if (IsResident(adapter)) {
    out.slot = slots_.Acquire(adapter).slot;
    out.outcome = Outcome::kPinned;
    return out;
  }
  if (!HasRoom(adapter, need, keep_free)) {
    out.outcome = Outcome::kNoRoom;
    return out;
  }
  // Blocks first (this may empty slots), then the slot: the least recently used idle one, whose
  // old adapter the load replaces in the engine.
  Reclaim(need + keep_free, /*keep=*/nullptr);
  const int32_t slot = slots_.FreeSlot();
  if (slots_.resident(slot) != nullptr) {
    FreeBlocks(slot);
    ++evictions_;
  }
  absl::StatusOr<std::vector<int32_t>> taken = blocks_.Reserve(need);
  if (!taken.ok()) {  // HasRoom and Reclaim made room: cannot happen
    out.outcome = Outcome::kNoRoom;
    return out;
  }
  out.slot = slots_.Acquire(adapter).slot;  // == slot: nothing changed the LRU order since
  if (absl::Status s = engine_.SetAdapter(out.slot, adapter.weights, *taken); !s.ok()) {
    // The engine may hold nothing or half of it: empty the slot, so that it names no block.
    (void)engine_.SetAdapter(out.slot, nullptr, {});
    (void)blocks_.Unreserve(*taken);
    slots_.Release(out.slot);
    slots_.Clear(out.slot);
    out.outcome = Outcome::kFailed;
    out.error = std::move(s);
    return out;
  }
  slot_blocks_[out.slot] = *std::move(taken);
  ++loads_;
  out.outcome = Outcome::kPinned;
  return out;
}

void AdapterPager::Unpin(int32_t slot) { slots_.Release(slot); }

bool AdapterPager::Reclaim(int32_t need, const LoraWeights* keep) {
  while (blocks_.num_free_blocks() < need) {
    int32_t victim = -1;
    for (int32_t s = 0; s < slots_.num_slots(); ++s) {
      if (slots_.users(s) > 0 || slots_.resident(s) == keep || slot_blocks_[s].empty()) continue;
      if (victim < 0 || slots_.last_used(s) < slots_.last_used(victim)) victim = s;
    }
    if (victim < 0) return false;
    Evict(victim);
  }
  return true;
}

void AdapterPager::EvictIdle() {
  for (int32_t s = 0; s < slots_.num_slots(); ++s) {
    if (slots_.users(s) == 0 && slots_.resident(s) != nullptr) Evict(s);
  }
}

bool AdapterPager::Prefetch(const AdapterRef& adapter, int32_t reserve) {
  if (IsResident(adapter)) return false;
  const int32_t slot = slots_.EmptySlot();
  if (slot < 0) return false;
  absl::StatusOr<int32_t> need = engine_.AdapterKvBlocks(*adapter.weights);
  // An adapter that takes no blocks loads at no cost when its request comes.
  if (!need.ok() || *need <= 0 || int64_t{*need} + reserve > blocks_.num_free_blocks()) {
    return false;
  }
  absl::StatusOr<std::vector<int32_t>> taken = blocks_.Reserve(*need);
  if (!taken.ok()) return false;
  if (!engine_.SetAdapter(slot, adapter.weights, *taken).ok()) {
    (void)engine_.SetAdapter(slot, nullptr, {});
    (void)blocks_.Unreserve(*taken);
    return false;
  }
  slot_blocks_[slot] = *std::move(taken);
  slots_.Fill(slot, adapter);
  ++loads_;
  ++prefetches_;
  return true;
}

void AdapterPager::Evict(int32_t slot) {
  (void)engine_.SetAdapter(slot, nullptr, {});
  FreeBlocks(slot);
  slots_.Clear(slot);
  ++evictions_;
}

void AdapterPager::FreeBlocks(int32_t slot) {
  (void)blocks_.Unreserve(slot_blocks_[slot]);
  slot_blocks_[slot].clear();
}

}  // namespace tessera
