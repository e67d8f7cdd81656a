// --scheduling-policy fcfs: vLLM's default. Waiting requests are admitted in arrival order, all
// alike (priority classes are ignored); a preempted sequence goes back to the front. Running
// sequences are fed in admission order, each prefill chunked into what the fixed
// max_num_batched_tokens budget leaves; when one needs KV blocks, the newest running sequence
// after it is preempted. Waiting requests never preempt running ones.
//
// Not thread-safe (SchedulingPolicy).
#ifndef TESSERA_SCHEDULER_FCFS_POLICY_H_
#define TESSERA_SCHEDULER_FCFS_POLICY_H_

#include <deque>

#include "scheduler/scheduling_policy.h"

namespace tessera {

class FcfsPolicy final : public SchedulingPolicy {
 public:
  explicit FcfsPolicy(const SchedulerOptions& options)
      : max_num_batched_tokens_(options.max_num_batched_tokens) {}

  SchedulingPolicyKind kind() const override { return SchedulingPolicyKind::kFcfs; }
  void Enqueue(Sequence* seq, absl::Time) override { waiting_.push_back(seq); }
  void Requeue(Sequence* seq) override { waiting_.push_front(seq); }
  Sequence* Next(absl::Time) const override;
  void PopNext(absl::Time) override;
  bool Remove(const Sequence* seq) override;
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

 private:
  int64_t max_num_batched_tokens_;
  std::deque<Sequence*> waiting_;
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_FCFS_POLICY_H_
