#include "scheduler/waiting_queue.h"

namespace tessera {

TenantQueues& WaitingQueue::ClassOf(const Sequence* seq) {
  return seq->request->request.priority == Priority::kBatch ? batch_ : interactive_;
}

void WaitingQueue::PushBack(Sequence* seq, absl::Time since) { ClassOf(seq).PushBack(seq, since); }

void WaitingQueue::PushFront(Sequence* seq, absl::Time since) {
  ClassOf(seq).PushFront(seq, since);
}

bool WaitingQueue::BatchFirst(absl::Time now) const {
  if (batch_.empty()) return false;
  return interactive_.empty() || now - batch_.FrontSince() >= batch_max_wait_;
}

Sequence* WaitingQueue::Front(absl::Time now) const {
  if (empty()) return nullptr;
  return BatchFirst(now) ? batch_.Front() : interactive_.Front();
}

void WaitingQueue::PopFront(absl::Time now) {
  if (empty()) return;
  if (BatchFirst(now)) {
    batch_.PopFront();
  } else {
    interactive_.PopFront();
  }
}

bool WaitingQueue::Remove(const Sequence* seq) { return ClassOf(seq).Remove(seq); }

}  // namespace tessera
