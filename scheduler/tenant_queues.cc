#include "scheduler/tenant_queues.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace tessera {

std::string TenantQueues::KeyOf(const Sequence& seq) const {
  return fairness_ != nullptr ? seq.request->request.tenant : std::string();
}

void TenantQueues::PushBack(Sequence* seq, absl::Time since) {
  queues_[KeyOf(*seq)].push_back({seq, since, next_arrival_++});
  ++size_;
  if (fairness_ != nullptr) fairness_->OnWaiting(seq->request->request.tenant);
}

void TenantQueues::PushFront(Sequence* seq, absl::Time since) {
  requeued_.push_front({seq, since, -1});
  ++size_;
}

const TenantQueues::Queue* TenantQueues::Pick() const {
  // O(tenants with a backlog): a few per step.
  const Queue* best = nullptr;
  double best_counter = 0;
  for (const auto& [tenant, queue] : queues_) {
    const double counter = fairness_ != nullptr ? fairness_->Counter(tenant) : 0.0;
    if (best == nullptr || counter < best_counter ||
        (counter == best_counter && queue.front().arrival < best->front().arrival)) {
      best = &queue;
      best_counter = counter;
    }
  }
  return best;
}

Sequence* TenantQueues::Front() const {
  if (!requeued_.empty()) return requeued_.front().seq;
  const Queue* q = Pick();
  return q == nullptr ? nullptr : q->front().seq;
}

absl::Time TenantQueues::FrontSince() const {
  if (!requeued_.empty()) return requeued_.front().since;
  const Queue* q = Pick();
  return q == nullptr ? absl::InfiniteFuture() : q->front().since;
}

void TenantQueues::LeftWaiting(const Sequence& seq) {
  if (fairness_ != nullptr) fairness_->OnLeftWaiting(seq.request->request.tenant).IgnoreError();
}

void TenantQueues::PopFront() {
  if (!requeued_.empty()) {
    requeued_.pop_front();
    --size_;
    return;
  }
  const Queue* picked = Pick();
  if (picked == nullptr) return;
  Sequence* seq = picked->front().seq;
  auto it = queues_.find(KeyOf(*seq));
  it->second.pop_front();
  if (it->second.empty()) queues_.erase(it);
  --size_;
  LeftWaiting(*seq);
  if (fairness_ != nullptr) {
    fairness_->ChargeInput(seq->request->request.tenant, seq->prompt_len()).IgnoreError();
  }
}

bool TenantQueues::Remove(const Sequence* seq) {
  auto match = [seq](const Entry& e) { return e.seq == seq; };
  if (auto it = std::find_if(requeued_.begin(), requeued_.end(), match); it != requeued_.end()) {
    requeued_.erase(it);
    --size_;
    return true;
  }
  auto q = queues_.find(KeyOf(*seq));
  if (q == queues_.end()) return false;
  auto it = std::find_if(q->second.begin(), q->second.end(), match);
  if (it == q->second.end()) return false;
  q->second.erase(it);
  if (q->second.empty()) queues_.erase(q);
  --size_;
  LeftWaiting(*seq);
  return true;
}

void TenantQueues::ForEach(absl::FunctionRef<bool(const Sequence*)> f) const {
  for (const Entry& e : requeued_) {
    if (!f(e.seq)) return;
  }
  std::vector<std::pair<double, const Queue*>> order;
  for (const auto& [tenant, queue] : queues_) {
    order.emplace_back(fairness_ != nullptr ? fairness_->Counter(tenant) : 0.0, &queue);
  }
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [counter, queue] : order) {
    for (const Entry& e : *queue) {
      if (!f(e.seq)) return;
    }
  }
}

}  // namespace tessera
