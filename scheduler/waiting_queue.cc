#include "scheduler/waiting_queue.h"

#include <algorithm>

namespace tessera {

std::deque<WaitingQueue::Entry>& WaitingQueue::ClassOf(const Sequence* seq) {
  return seq->request->request.priority == Priority::kBatch ? batch_ : interactive_;
}

void WaitingQueue::PushBack(Sequence* seq, absl::Time since) {
  ClassOf(seq).push_back({seq, since});
}

void WaitingQueue::PushFront(Sequence* seq, absl::Time since) {
  ClassOf(seq).push_front({seq, since});
}

bool WaitingQueue::BatchFirst(absl::Time now) const {
  if (batch_.empty()) return false;
  return interactive_.empty() || now - batch_.front().since >= batch_max_wait_;
}

Sequence* WaitingQueue::Front(absl::Time now) const {
  if (empty()) return nullptr;
  return BatchFirst(now) ? batch_.front().seq : interactive_.front().seq;
}

void WaitingQueue::PopFront(absl::Time now) {
  if (empty()) return;
  if (BatchFirst(now)) {
    batch_.pop_front();
  } else {
    interactive_.pop_front();
  }
}

bool WaitingQueue::Remove(const Sequence* seq) {
  std::deque<Entry>& q = ClassOf(seq);
  auto it = std::find_if(q.begin(), q.end(), [seq](const Entry& e) { return e.seq == seq; });
  if (it == q.end()) return false;
  q.erase(it);
  return true;
}

}  // namespace tessera
