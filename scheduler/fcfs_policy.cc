#include "scheduler/fcfs_policy.h"

#include <algorithm>

namespace tessera {

Sequence* FcfsPolicy::Next(absl::Time) const {
  return waiting_.empty() ? nullptr : waiting_.front();
}

void FcfsPolicy::PopNext(absl::Time) {
  if (!waiting_.empty()) waiting_.pop_front();
}

bool FcfsPolicy::Remove(const Sequence* seq) {
  auto it = std::find(waiting_.begin(), waiting_.end(), seq);
  if (it == waiting_.end()) return false;
  waiting_.erase(it);
  return true;
}

void FcfsPolicy::ForEachWaiting(absl::FunctionRef<bool(const Sequence*)> f) const {
  for (const Sequence* seq : waiting_) {
    if (!f(seq)) return;
  }
}

Sequence* FcfsPolicy::ChooseVictim(absl::Span<Sequence* const> candidates, absl::Time) const {
  Sequence* victim = nullptr;
  for (Sequence* s : candidates) {
    if (victim == nullptr || s->admit_order > victim->admit_order) victim = s;
  }
  return victim;
}

}  // namespace tessera
