// The sequences waiting to run, in two first-come-first-served classes. Interactive sequences go
// first; a batch sequence that has waited longer than `batch_max_wait` goes before them, so
// batch traffic is delayed under interactive load but never starved. Preempted sequences
// re-enter at the front of their class.
//
// Not thread-safe: the scheduler thread owns it.
#ifndef TESSERA_SCHEDULER_WAITING_QUEUE_H_
#define TESSERA_SCHEDULER_WAITING_QUEUE_H_

#include <cstdint>
#include <deque>

#include "absl/time/time.h"
#include "scheduler/sequence.h"

namespace tessera {

class WaitingQueue {
 public:
  explicit WaitingQueue(absl::Duration batch_max_wait) : batch_max_wait_(batch_max_wait) {}

  void PushBack(Sequence* seq, absl::Time since);
  void PushFront(Sequence* seq, absl::Time since);
  // The sequence to admit next at `now` (nullptr when empty).
  Sequence* Front(absl::Time now) const;
  void PopFront(absl::Time now);
  // Removes `seq` wherever it is; false when it is not queued.
  bool Remove(const Sequence* seq);

  bool empty() const { return interactive_.empty() && batch_.empty(); }
  size_t size() const { return interactive_.size() + batch_.size(); }
  // Calls `f(seq)` for the queued sequences, interactive first, each class oldest first, while
  // it returns true.
  template <typename F>
  void ForEach(F&& f) const {
    for (const Entry& e : interactive_) {
      if (!f(e.seq)) return;
    }
    for (const Entry& e : batch_) {
      if (!f(e.seq)) return;
    }
  }

 private:
  struct Entry {
    Sequence* seq;
    absl::Time since;  // what its wait counts from (the scheduler keeps arrival across preemption)
  };
  std::deque<Entry>& ClassOf(const Sequence* seq);
  bool BatchFirst(absl::Time now) const;

  absl::Duration batch_max_wait_;
  std::deque<Entry> interactive_;
  std::deque<Entry> batch_;
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_WAITING_QUEUE_H_
