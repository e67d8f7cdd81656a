#include "scheduler/slo_waiting_set.h"

namespace tessera {
namespace {

// Lost sequences go oldest first: their key orders by arrival, then entry.
SloWaitingSet::Key LostKey(const SloWaitingSet::Key& key) {
  return {key.seq->request->arrival, key.order, key.seq};
}

}  // namespace

void SloWaitingSet::Add(Sequence* seq, absl::Time deadline) {
  const Key key{deadline, next_order_++, seq};
  keys_[seq] = {key, false};
  by_deadline_.insert(key);
  Tenant& t = tenants_[seq->request->request.tenant];
  if (IsBatch(*seq)) {
    t.batch.by_deadline.insert(key);
    t.batch_by_age.insert(LostKey(key));
  } else {
    t.interactive.by_deadline.insert(key);
  }
}

bool SloWaitingSet::Remove(const Sequence* seq) {
  auto it = keys_.find(seq);
  if (it == keys_.end()) return false;
  const auto [key, lost] = it->second;
  keys_.erase(it);
  by_deadline_.erase(key);
  auto t = tenants_.find(seq->request->request.tenant);
  Queue& q = IsBatch(*seq) ? t->second.batch : t->second.interactive;
  if (lost) {
    q.lost.erase(LostKey(key));
  } else {
    q.by_deadline.erase(key);
  }
  if (IsBatch(*seq)) t->second.batch_by_age.erase(LostKey(key));
  if (t->second.interactive.empty() && t->second.batch.empty()) tenants_.erase(t);
  return true;
}

void SloWaitingSet::MarkLost(Queue& queue, const Key& key) {
  const Key moved = key;  // `key` may live in the set it leaves
  queue.by_deadline.erase(moved);
  queue.lost.insert(LostKey(moved));
  keys_[moved.seq].lost = true;
}

}  // namespace tessera
