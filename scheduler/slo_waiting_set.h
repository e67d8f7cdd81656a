// The slo policy's waiting sequences (never run yet), kept so that choosing the next one to admit
// costs O(tenants x log n), not a scan of the queue: per tenant, per class (interactive, batch),
// the sequences in time-to-first-token deadline order, and those that can no longer meet their
// target (lost) apart, oldest first; plus every waiting sequence in deadline order across tenants
// (the admission order without fairness, what adapter prefetch and the wait prediction walk).
//
// A sequence enters with its deadline and stays in its tenant's deadline order until the policy
// finds it at the front and lost (MarkLost): being lost is for good, as time only moves on, so
// each sequence moves at most once and a front that is lost costs O(log n) once.
//
// Not thread-safe (the scheduler thread). Holds the sequences by pointer; Remove before one is
// destroyed.
#ifndef TESSERA_SCHEDULER_SLO_WAITING_SET_H_
#define TESSERA_SCHEDULER_SLO_WAITING_SET_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "scheduler/sequence.h"

namespace tessera {

class SloWaitingSet {
 public:
  // Deadline order; `order` (the entry counter) breaks ties by arrival.
  struct Key {
    absl::Time deadline;
    int64_t order;
    Sequence* seq;
    bool operator<(const Key& o) const {
      return std::tie(deadline, order) < std::tie(o.deadline, o.order);
    }
  };
  // One tenant's sequences of one class.
  struct Queue {
    std::set<Key> by_deadline;  // not found lost yet
    std::set<Key> lost;         // deadline replaced by arrival: oldest first
    bool empty() const { return by_deadline.empty() && lost.empty(); }
    size_t size() const { return by_deadline.size() + lost.size(); }
  };
  struct Tenant {
    Queue interactive, batch;
    std::set<Key> batch_by_age;  // the batch sequences again, by arrival (aging)
    size_t size() const { return interactive.size() + batch.size(); }
  };

  void Add(Sequence* seq, absl::Time deadline);
  // False when `seq` is not here.
  bool Remove(const Sequence* seq);
  // `key` (the front of a queue's by_deadline) is lost: it moves to the queue's lost set.
  void MarkLost(Queue& queue, const Key& key);

  size_t size() const { return keys_.size(); }
  bool empty() const { return keys_.empty(); }
  // Every waiting sequence in deadline order.
  const std::set<Key>& by_deadline() const { return by_deadline_; }
  // How many sequences `tenant` has waiting (0: none).
  size_t Waiting(std::string_view tenant) const {
    auto it = tenants_.find(tenant);
    return it == tenants_.end() ? 0 : it->second.size();
  }
  // Tenants with at least one waiting sequence, by name.
  std::map<std::string, Tenant, std::less<>>& tenants() { return tenants_; }
  const std::map<std::string, Tenant, std::less<>>& tenants() const { return tenants_; }

 private:
  struct Place {
    Key key;
    bool lost = false;
  };
  static bool IsBatch(const Sequence& seq) {
    return seq.request->request.priority == Priority::kBatch;
  }

  int64_t next_order_ = 0;
  absl::flat_hash_map<const Sequence*, Place> keys_;
  std::set<Key> by_deadline_;
  std::map<std::string, Tenant, std::less<>> tenants_;
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_SLO_WAITING_SET_H_
