// --scheduling-policy priority: two classes, interactive before batch, first come first served
// within each (WaitingQueue). Running sequences are fed interactive first, then batch, older
// first; a batch request that has waited batch_max_wait since its arrival ranks as interactive
// (aging), so that a stream of interactive requests delays batch work but never starves it. A
// waiting interactive request that does not fit preempts running batch ones, newest first; when
// a running sequence needs blocks, the lowest-class, newest sequence after it goes first. The
// token budget is the fixed max_num_batched_tokens. With --fairness vtc, tenants take turns by
// the Virtual Token Counter within each class, arrival order within each tenant (waiting_queue.h).
//
// Not thread-safe (SchedulingPolicy).
#ifndef TESSERA_SCHEDULER_PRIORITY_POLICY_H_
#define TESSERA_SCHEDULER_PRIORITY_POLICY_H_

#include "scheduler/scheduling_policy.h"
#include "scheduler/waiting_queue.h"

namespace tessera {

class PriorityPolicy final : public SchedulingPolicy {
 public:
  // `fairness` (null: off) outlives the policy.
  explicit PriorityPolicy(const SchedulerOptions& options, VtcFairness* fairness = nullptr);

  SchedulingPolicyKind kind() const override { return SchedulingPolicyKind::kPriority; }
  void Enqueue(Sequence* seq, absl::Time now) override;
  void Requeue(Sequence* seq) override;
  Sequence* Next(absl::Time now) const override { return waiting_.Front(now); }
  void PopNext(absl::Time now) override { waiting_.PopFront(now); }
  bool Remove(const Sequence* seq) override { return waiting_.Remove(seq); }
  size_t num_waiting() const override { return waiting_.size(); }
  void ForEachWaiting(absl::FunctionRef<bool(const Sequence*)> f) const override;

  int64_t TokenBudget(absl::Span<Sequence* const> running, absl::Time now) const override;
  void OrderRunning(absl::Span<Sequence* const> running, absl::Time now,
                    std::vector<Sequence*>* order) const override;
  bool MayPreemptFor(const Sequence& head, absl::Time now) const override;
  Sequence* ChooseVictimFor(const Sequence& head, absl::Span<Sequence* const> running,
                            absl::Time now) const override;
  Sequence* ChooseVictim(absl::Span<Sequence* const> candidates, absl::Time now) const override;
  void OnTokenGenerated(const Sequence& seq) override;

 private:
  // Whether `seq` gives way to interactive work at `now`: a batch request does until it has
  // waited batch_max_wait since it arrived.
  bool YieldsToInteractive(const Sequence& seq, absl::Time now) const;

  int64_t max_num_batched_tokens_;
  absl::Duration batch_max_wait_;
  VtcFairness* fairness_;
  WaitingQueue waiting_;
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_PRIORITY_POLICY_H_
