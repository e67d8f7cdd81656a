#include "scheduler/priority_policy.h"

namespace tessera {

PriorityPolicy::PriorityPolicy(const SchedulerOptions& options, VtcFairness* fairness)
    : max_num_batched_tokens_(options.max_num_batched_tokens),
      batch_max_wait_(options.batch_max_wait),
      fairness_(fairness),
      waiting_(options.batch_max_wait, fairness) {}

bool PriorityPolicy::YieldsToInteractive(const Sequence& seq, absl::Time now) const {
  // After batch_max_wait a batch request ranks as interactive (by age), or preemption by newer
  // interactive requests could starve it.
  const RequestState& r = *seq.request;
  return r.request.priority == Priority::kBatch && now - r.arrival < batch_max_wait_;
}

void PriorityPolicy::Enqueue(Sequence* seq, absl::Time now) { waiting_.PushBack(seq, now); }

void PriorityPolicy::Requeue(Sequence* seq) {
  // Its wait for aging counts from arrival: a batch request preempted right after aging must not
  // wait batch_max_wait all over again, behind interactive requests admitted meanwhile.
  waiting_.PushFront(seq, seq->request->arrival);
}

void PriorityPolicy::ForEachWaiting(absl::FunctionRef<bool(const Sequence*)> f) const {
  waiting_.ForEach([&](const Sequence* seq) { return f(seq); });
}

int64_t PriorityPolicy::TokenBudget(absl::Span<Sequence* const>, absl::Time) const {
  return max_num_batched_tokens_;
}

void PriorityPolicy::OrderRunning(absl::Span<Sequence* const> running, absl::Time now,
                                  std::vector<Sequence*>* order) const {
  // Interactive (and aged batch) before batch, older first. `running` is in admission order
  // already, so a stable partition does it (no sort per step).
  order->clear();
  for (bool yielding : {false, true}) {
    for (Sequence* seq : running) {
      if (YieldsToInteractive(*seq, now) == yielding) order->push_back(seq);
    }
  }
}

bool PriorityPolicy::MayPreemptFor(const Sequence& head, absl::Time) const {
  return head.request->request.priority == Priority::kInteractive;
}

Sequence* PriorityPolicy::ChooseVictimFor(const Sequence& head, absl::Span<Sequence* const> running,
                                          absl::Time now) const {
  if (!MayPreemptFor(head, now)) return nullptr;
  Sequence* victim = nullptr;
  for (Sequence* s : running) {
    if (YieldsToInteractive(*s, now) &&
        (victim == nullptr || s->admit_order > victim->admit_order)) {
      victim = s;
    }
  }
  return victim;
}

Sequence* PriorityPolicy::ChooseVictim(absl::Span<Sequence* const> candidates,
                                       absl::Time now) const {
  // The last in OrderRunning's order: the newest yielding one, else the newest.
  Sequence* victim = nullptr;
  bool victim_yields = false;
  for (Sequence* s : candidates) {
    const bool yields = YieldsToInteractive(*s, now);
    if (victim == nullptr || yields > victim_yields ||
        (yields == victim_yields && s->admit_order > victim->admit_order)) {
      victim = s;
      victim_yields = yields;
    }
  }
  return victim;
}

void PriorityPolicy::OnTokenGenerated(const Sequence& seq) {
  if (fairness_ != nullptr) fairness_->ChargeOutput(seq.request->request.tenant, 1).IgnoreError();
}

}  // namespace tessera
