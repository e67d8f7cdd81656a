// The sequences waiting to run, in two first-come-first-served classes. Interactive sequences go
// first; a batch sequence that has waited longer than `batch_max_wait` goes before them, so
// batch traffic is delayed under interactive load but never starved. Preempted sequences
// re-enter at the front of their class. With a fairness counter, each class is first come first
// served per tenant, the tenants taking turns by the counter (tenant_queues.h).
//
// Not thread-safe: the scheduler thread owns it.
#ifndef TESSERA_SCHEDULER_WAITING_QUEUE_H_
#define TESSERA_SCHEDULER_WAITING_QUEUE_H_

#include <cstdint>

#include "absl/time/time.h"
#include "scheduler/sequence.h"
#include "scheduler/tenant_queues.h"
#include "scheduler/vtc_fairness.h"

namespace tessera {

class WaitingQueue {
 public:
  // `fairness` (null: off) outlives the queue.
  explicit WaitingQueue(absl::Duration batch_max_wait, VtcFairness* fairness = nullptr)
      : batch_max_wait_(batch_max_wait), interactive_(fairness), batch_(fairness) {}

  void PushBack(Sequence* seq, absl::Time since);
  void PushFront(Sequence* seq, absl::Time since);
  // The sequence to admit next at `now` (nullptr when empty).
  Sequence* Front(absl::Time now) const;
  void PopFront(absl::Time now);
  // Removes `seq` wherever it is; false when it is not queued.
  bool Remove(const Sequence* seq);

  bool empty() const { return interactive_.empty() && batch_.empty(); }
  size_t size() const { return interactive_.size() + batch_.size(); }
  // Calls `f(seq)` for the queued sequences, interactive first, each class in about the order of
  // admission, while it returns true.
  template <typename F>
  void ForEach(F&& f) const {
    bool go_on = true;
    interactive_.ForEach([&](const Sequence* seq) { return go_on = f(seq); });
    if (go_on) batch_.ForEach([&](const Sequence* seq) { return f(seq); });
  }

 private:
  TenantQueues& ClassOf(const Sequence* seq);
  bool BatchFirst(absl::Time now) const;

  absl::Duration batch_max_wait_;
  TenantQueues interactive_;
  TenantQueues batch_;
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_WAITING_QUEUE_H_
