#include "scheduler/adapter_slots.h"

#include <algorithm>

namespace tessera {

AdapterSlots::AdapterSlots(int32_t num_slots) : slots_(std::max(num_slots, 0)) {}

int32_t AdapterSlots::Find(const AdapterRef& adapter) const {
  for (size_t i = 0; i < slots_.size(); ++i) {
    // A version is identified by its weights: a reload under the same name is another adapter.
    if (slots_[i].weights != nullptr && slots_[i].weights == adapter.weights) {
      return static_cast<int32_t>(i);
    }
  }
  return -1;
}

int32_t AdapterSlots::FreeSlot() const {
  int32_t best = -1;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    if (s.users > 0) continue;
    if (best < 0 || s.last_used < slots_[best].last_used) best = static_cast<int32_t>(i);
  }
  return best;
}

bool AdapterSlots::CanAcquire(const AdapterRef& adapter) const {
  return Find(adapter) >= 0 || FreeSlot() >= 0;
}

AdapterSlots::Acquired AdapterSlots::Acquire(const AdapterRef& adapter) {
  Acquired out;
  out.slot = Find(adapter);
  if (out.slot < 0) {
    out.slot = FreeSlot();
    out.needs_load = true;
    slots_[out.slot].weights = adapter.weights;
  }
  Slot& s = slots_[out.slot];
  ++s.users;
  s.last_used = ++clock_;
  return out;
}

void AdapterSlots::Release(int32_t slot) {
  Slot& s = slots_[slot];
  if (s.users > 0) --s.users;
  s.last_used = ++clock_;
}

void AdapterSlots::Clear(int32_t slot) {
  slots_[slot].weights.reset();
  slots_[slot].last_used = 0;
}

void AdapterSlots::Fill(int32_t slot, const AdapterRef& adapter) {
  Slot& s = slots_[slot];
  s.weights = adapter.weights;
  s.last_used = ++clock_;
}

int32_t AdapterSlots::EmptySlot() const {
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].users == 0 && slots_[i].weights == nullptr) return static_cast<int32_t>(i);
  }
  return -1;
}

}  // namespace tessera
