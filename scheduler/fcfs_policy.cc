#include "scheduler/fcfs_policy.h"

namespace tessera {

void FcfsPolicy::ForEachWaiting(absl::FunctionRef<bool(const Sequence*)> f) const {
  waiting_.ForEach(f);
}

void FcfsPolicy::OnTokenGenerated(const Sequence& seq) {
  if (fairness_ != nullptr) fairness_->ChargeOutput(seq.request->request.tenant, 1).IgnoreError();
}

Sequence* FcfsPolicy::ChooseVictim(absl::Span<Sequence* const> candidates, absl::Time) const {
  Sequence* victim = nullptr;
  for (Sequence* s : candidates) {
    if (victim == nullptr || s->admit_order > victim->admit_order) victim = s;
  }
  return victim;
}

}  // namespace tessera
