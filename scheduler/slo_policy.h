// --scheduling-policy slo (tesserad's default): decides with the requests' latency targets.
//
//   - Token budget: the largest step that the step-time model predicts to keep every running
//     decode within its time-per-output-token target, so that a long prompt's prefill cannot
//     stall the decodes past their target (stall-free batching with an SLO-derived budget:
//     decodes are fed first, prefill chunks fill what they leave). A request's TPOT is its mean
//     per token after the first (as attainment counts it), so time a decode banked by running
//     faster than its target may go into one longer step; a fresh decode allows its target.
//     Without such targets, max_num_batched_tokens.
//   - Admission order: interactive (and aged batch) before batch, as the priority policy; within
//     a class, the backlogged tenant with the least weighted service (VTC fairness, when on);
//     within that tenant, requests that can still meet their time-to-first-token target,
//     earliest deadline first, then those that cannot, oldest first, so that a lost cause does
//     not make feasible requests miss too (it is still served). A request without a target has
//     the deadline arrival + best_effort_ttft, so nothing starves. A preempted sequence goes
//     first (its KV was computed once already).
//   - Victims: batch before interactive, then the most slack (latest deadline), then the newest.
// Ordering and budgets change only timing: a request's tokens are the same under every policy.
//
// Admission order is a linear scan of the waiting sequences per admission: O(waiting) each, a
// few microseconds for the default queue bound of 1024.
//
// Not thread-safe (SchedulingPolicy).
#ifndef TESSERA_SCHEDULER_SLO_POLICY_H_
#define TESSERA_SCHEDULER_SLO_POLICY_H_

#include <deque>
#include <vector>

#include "scheduler/scheduling_policy.h"
#include "scheduler/step_time_model.h"
#include "scheduler/vtc_fairness.h"

namespace tessera {

class SloPolicy final : public SchedulingPolicy {
 public:
  // `model` and `fairness` (null: off) outlive the policy.
  SloPolicy(const SchedulerOptions& options, const StepTimeModel* model, VtcFairness* fairness);

  SchedulingPolicyKind kind() const override { return SchedulingPolicyKind::kSlo; }
  void Enqueue(Sequence* seq, absl::Time now) override;
  void Requeue(Sequence* seq) override;
  Sequence* Next(absl::Time now) const override;
  void PopNext(absl::Time now) override;
  bool Remove(const Sequence* seq) override;
  size_t num_waiting() const override { return requeued_.size() + waiting_.size(); }
  void ForEachWaiting(absl::FunctionRef<bool(const Sequence*)> f) const override;

  int64_t TokenBudget(absl::Span<Sequence* const> running, absl::Time now) const override;
  void OrderRunning(absl::Span<Sequence* const> running, absl::Time now,
                    std::vector<Sequence*>* order) const override;
  bool MayPreemptFor(const Sequence& head, absl::Time now) const override;
  Sequence* ChooseVictimFor(const Sequence& head, absl::Span<Sequence* const> running,
                            absl::Time now) const override;
  Sequence* ChooseVictim(absl::Span<Sequence* const> candidates, absl::Time now) const override;
  void OnTokenGenerated(const Sequence& seq) override;
  // An urgent short prompt goes before the rest of a long one that is prefilling.
  bool AdmitsAheadOfRunningPrefills() const override { return true; }
  // Same class or above, and an earlier deadline (and not a lost cause).
  bool RanksAhead(const Sequence& waiting, const Sequence& running, absl::Time now) const override;
  std::optional<absl::Duration> PredictTimeToFirstToken(const GenerateRequest& request,
                                                        absl::Span<Sequence* const> running,
                                                        absl::Time now) const override;

  // The TTFT deadline of `seq`'s request: arrival + its target, or + best_effort_ttft.
  absl::Time Deadline(const Sequence& seq) const;
  // Predicted seconds to prefill what `seq` has left of its prompt in one step alone.
  double PrefillSeconds(const Sequence& seq) const;
  // Whether `seq` cannot meet its TTFT target even if it ran now, alone.
  bool IsLostCause(const Sequence& seq, absl::Time now) const;

 private:
  // Whether `seq` gives way to interactive work at `now` (batch, younger than batch_max_wait).
  bool YieldsToInteractive(const Sequence& seq, absl::Time now) const;
  // The waiting sequence (not requeued) to admit next, or waiting_.end().
  std::vector<Sequence*>::const_iterator Best(absl::Time now) const;
  void LeftWaiting(const Sequence& seq);

  int64_t max_num_batched_tokens_;
  absl::Duration batch_max_wait_;
  absl::Duration best_effort_ttft_;
  const StepTimeModel* model_;
  VtcFairness* fairness_;
  std::deque<Sequence*> requeued_;  // preempted, in the order they go back
  std::vector<Sequence*> waiting_;  // never run, in arrival order
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_SLO_POLICY_H_
