// Which LoRA adapter version sits in which engine slot, and how many requests in flight use each.
//
// Capacity for adapters, decided apart from batch forming like KV blocks: a request takes a slot
// when it is first admitted and gives it back when it finishes or has nothing running (all its
// sequences preempted; SchedulerCore::UnpinIfWaiting), so no waiting request holds a slot. A slot
// whose users have all finished keeps its adapter, so the next request for it needs no load; when a
// new adapter needs a slot, the least recently used free one is reused, an empty slot before any
// that holds an adapter. Query then commit: CanAcquire, then Acquire. Where the adapters' memory
// comes from is AdapterPager's business; this class only tracks slots.
//
// Not thread-safe (the scheduler thread).
#ifndef TESSERA_SCHEDULER_ADAPTER_SLOTS_H_
#define TESSERA_SCHEDULER_ADAPTER_SLOTS_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "scheduler/request.h"

namespace tessera {

class AdapterSlots {
 public:
  explicit AdapterSlots(int32_t num_slots);

  struct Acquired {
    int32_t slot = -1;
    bool needs_load = false;  // the engine must be given the adapter's weights (SetAdapter)
  };

  // Whether `adapter` is resident or a slot is free for it.
  bool CanAcquire(const AdapterRef& adapter) const;
  // Pins a slot for one more request. Requires CanAcquire. A load goes to FreeSlot().
  Acquired Acquire(const AdapterRef& adapter);
  void Release(int32_t slot);
  // Forgets what `slot` holds (the engine could not load it, or the adapter was evicted), so
  // nothing takes it as resident; an empty slot is the first one reused.
  void Clear(int32_t slot);
  // Puts `adapter` in `slot` without pinning it (a prefetch): `slot` must have no users. It is
  // resident from then on, the most recently used of the idle slots.
  void Fill(int32_t slot, const AdapterRef& adapter);

  // The slot where `adapter` is resident; -1 if none.
  int32_t Find(const AdapterRef& adapter) const;
  // The slot a load would take: the least recently used one without users (an empty one first);
  // -1 if every slot is pinned.
  int32_t FreeSlot() const;
  // A slot that holds nothing and has no users; -1 if none.
  int32_t EmptySlot() const;

  int32_t num_slots() const { return static_cast<int32_t>(slots_.size()); }
  int32_t users(int32_t slot) const { return slots_[slot].users; }
  int64_t last_used(int32_t slot) const { return slots_[slot].last_used; }
  // The weights resident in `slot` (null if none).
  const LoraWeights* resident(int32_t slot) const { return slots_[slot].weights.get(); }

 private:
  struct Slot {
    // Kept while resident (not the request's registry lease: an idle resident adapter must not
    // count as in use there).
    std::shared_ptr<const LoraWeights> weights;
    int32_t users = 0;
    int64_t last_used = 0;  // 0: never used, or emptied
  };

  std::vector<Slot> slots_;
  int64_t clock_ = 0;
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_ADAPTER_SLOTS_H_
