// Waiting sequences first come first served within each tenant, with the tenant that goes next
// chosen by the Virtual Token Counter (vtc_fairness.h): the fcfs and priority policies' queue
// (one per priority class) when --fairness vtc. Without a counter it is one FIFO over all
// tenants, exactly the arrival order those policies have without fairness.
//
//   - PushBack: a new request's sequence joins its tenant's queue (the tenant is backlogged).
//   - PushFront: a preempted sequence goes before every tenant's (its KV was computed once, and
//     its prompt was charged at its first admission); it does not count as backlog.
//   - Front: the first preempted one, else the front of the backlogged tenant with the smallest
//     counter (ties: the earlier arrival).
//   - PopFront of a new sequence charges its prompt to its tenant (once: recomputation after a
//     preemption is the server's doing). Output tokens are charged by the policy as they come.
//
// Not thread-safe: the scheduler thread owns it. Holds sequences by pointer; the counter
// outlives it.
#ifndef TESSERA_SCHEDULER_TENANT_QUEUES_H_
#define TESSERA_SCHEDULER_TENANT_QUEUES_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/time/time.h"
#include "scheduler/sequence.h"
#include "scheduler/vtc_fairness.h"

namespace tessera {

class TenantQueues {
 public:
  // `fairness` null: one FIFO over all tenants.
  explicit TenantQueues(VtcFairness* fairness) : fairness_(fairness) {}
  TenantQueues(const TenantQueues&) = delete;
  TenantQueues& operator=(const TenantQueues&) = delete;

  // `since`: what the sequence's wait counts from (aging in the priority policy).
  void PushBack(Sequence* seq, absl::Time since);
  void PushFront(Sequence* seq, absl::Time since);
  // The sequence to admit next (nullptr when empty), and when its wait began.
  Sequence* Front() const;
  absl::Time FrontSince() const;
  void PopFront();
  // Removes `seq` wherever it waits; false when it does not.
  bool Remove(const Sequence* seq);

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  // Calls `f(seq)` in about the order of admission (preempted ones, then each tenant's queue in
  // the counter's present order) while it returns true.
  void ForEach(absl::FunctionRef<bool(const Sequence*)> f) const;

 private:
  struct Entry {
    Sequence* seq;
    absl::Time since;
    int64_t arrival;  // PushBack order: FIFO across tenants, and the counter's tie-break
  };
  using Queue = std::deque<Entry>;

  // The key of `seq`'s queue: its tenant, or one queue for all without fairness.
  std::string KeyOf(const Sequence& seq) const;
  // The tenant queue whose front goes next (nullptr when all are empty).
  const Queue* Pick() const;
  void LeftWaiting(const Sequence& seq);

  VtcFairness* fairness_;
  std::deque<Entry> requeued_;
  std::map<std::string, Queue, std::less<>> queues_;  // non-empty ones only
  int64_t next_arrival_ = 0;
  size_t size_ = 0;
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_TENANT_QUEUES_H_
