// --scheduling-policy fcfs: vLLM's default. Waiting requests are admitted in arrival order, all
// alike (priority classes are ignored); a preempted sequence goes back to the front. With
// --fairness vtc the tenants take turns by the Virtual Token Counter, arrival order within each
// (tenant_queues.h); with --fairness none (vLLM's behaviour) it is arrival order alone. Running
// sequences are fed in admission order, each prefill chunked into what the fixed
// max_num_batched_tokens budget leaves; when one needs KV blocks, the newest running sequence
// after it is preempted. Waiting requests never preempt running ones.
//
// Not thread-safe (SchedulingPolicy).
#ifndef TESSERA_SCHEDULER_FCFS_POLICY_H_
#define TESSERA_SCHEDULER_FCFS_POLICY_H_

#include "scheduler/scheduling_policy.h"
#include "scheduler/tenant_queues.h"

namespace tessera {

class FcfsPolicy final : public SchedulingPolicy {
 public:
  // `fairness` (null: off) outlives the policy.
  explicit FcfsPolicy(const SchedulerOptions& options, VtcFairness* fairness = nullptr)
      : max_num_batched_tokens_(options.max_num_batched_tokens),
        fairness_(fairness),
        waiting_(fairness) {}

  SchedulingPolicyKind kind() const override { return SchedulingPolicyKind::kFcfs; }
  void Enqueue(Sequence* seq, absl::Time now) override { waiting_.PushBack(seq, now); }
  void Requeue(Sequence* seq) override { waiting_.PushFront(seq, seq->request->arrival); }
  Sequence* Next(absl::Time) const override { return waiting_.Front(); }
  void PopNext(absl::Time) override { waiting_.PopFront(); }
  bool Remove(const Sequence* seq) override { return waiting_.Remove(seq); }
  size_t num_waiting() const override { return waiting_.size(); }
  void ForEachWaiting(absl::FunctionRef<bool(const Sequence*)> f) const override;

  int64_t TokenBudget(absl::Span<Sequence* const>, absl::Time) const override {
    return max_num_batched_tokens_;
  }
  void OrderRunning(absl::Span<Sequence* const> running, absl::Time,
                    std::vector<Sequence*>* order) const override {
    order->assign(running.begin(), running.end());
  }
  bool MayPreemptFor(const Sequence&, absl::Time) const override { return false; }
  Sequence* ChooseVictimFor(const Sequence&, absl::Span<Sequence* const>,
                            absl::Time) const override {
    return nullptr;
  }
  Sequence* ChooseVictim(absl::Span<Sequence* const> candidates, absl::Time now) const override;
  void OnTokenGenerated(const Sequence& seq) override;

 private:
  int64_t max_num_batched_tokens_;
  VtcFairness* fairness_;
  TenantQueues waiting_;
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_FCFS_POLICY_H_
