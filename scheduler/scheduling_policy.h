// The scheduling policy: the decisions of a step that trade one request's latency against
// another's, apart from what fits (capacity.h) and how a batch is cut into chunks (the core).
// A policy decides
//   - the order in which waiting sequences are considered for admission (it keeps them),
//   - the order in which running sequences are fed, and so which ones go short when the token
//     budget or max_num_seqs runs out,
//   - the token budget of a step,
//   - which running sequence is preempted when KV blocks run short, and whether a waiting
//     sequence may preempt running ones to be admitted.
// Ordering and budgets change only timing: a request's tokens are the same under every policy.
//
// A policy sees each sequence's request (priority, latency targets, arrival) and the time of the
// step, which is what a deadline-aware policy (the coming `slo`) orders by.
//
// Not thread-safe: the scheduler thread owns it. It holds the waiting sequences by pointer; the
// core removes a sequence (Remove) before it is destroyed.
#ifndef TESSERA_SCHEDULER_SCHEDULING_POLICY_H_
#define TESSERA_SCHEDULER_SCHEDULING_POLICY_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "scheduler/scheduler_options.h"
#include "scheduler/sequence.h"
#include "scheduler/step_time_model.h"
#include "scheduler/vtc_fairness.h"

namespace tessera {

class SchedulingPolicy {
 public:
  virtual ~SchedulingPolicy() = default;

  virtual SchedulingPolicyKind kind() const = 0;

  // Waiting sequences. Enqueue: a new request's sequence, at `now`. Requeue: a preempted one,
  // which goes back to the front (of its class, where the policy has classes).
  virtual void Enqueue(Sequence* seq, absl::Time now) = 0;
  virtual void Requeue(Sequence* seq) = 0;
  // The sequence to admit next at `now` (nullptr when none waits), and its removal.
  virtual Sequence* Next(absl::Time now) const = 0;
  virtual void PopNext(absl::Time now) = 0;
  // Removes `seq` wherever it waits; false when it does not.
  virtual bool Remove(const Sequence* seq) = 0;
  virtual size_t num_waiting() const = 0;
  // Calls `f(seq)` for the waiting sequences, in about the order they will be admitted (adapter
  // prefetch looks ahead with it), while it returns true.
  virtual void ForEachWaiting(absl::FunctionRef<bool(const Sequence*)> f) const = 0;

  // The tokens that the step at `now` may feed, `running` being the running sequences. At most
  // options.max_num_batched_tokens (which sizes the engine's workspace).
  virtual int64_t TokenBudget(absl::Span<Sequence* const> running, absl::Time now) const = 0;
  // The longest that the step TokenBudget last sized may be predicted to take (infinity: no
  // limit). A budget counts its prefill tokens as one chunk from position 0, but a chunk deep
  // into a long prompt attends to all of it (on a CPU, 20 tokens at position 1500 cost as much
  // as 20 decodes): BatchFormer caps each prefill chunk so that the step stays within this.
  virtual double StepSecondsLimit() const { return std::numeric_limits<double>::infinity(); }
  // `running` in the order the step feeds them (replacing `order`).
  virtual void OrderRunning(absl::Span<Sequence* const> running, absl::Time now,
                            std::vector<Sequence*>* order) const = 0;
  // Whether the waiting sequence `head`, not admitted for lack of room, may preempt running
  // sequences at all; ChooseVictimFor then names each one (nullptr: none left that it outranks).
  virtual bool MayPreemptFor(const Sequence& head, absl::Time now) const = 0;
  virtual Sequence* ChooseVictimFor(const Sequence& head, absl::Span<Sequence* const> running,
                                    absl::Time now) const = 0;
  // The sequence among `candidates` (running, not empty) to preempt first when a running
  // sequence ahead of them in the step's order needs KV blocks.
  virtual Sequence* ChooseVictim(absl::Span<Sequence* const> candidates, absl::Time now) const = 0;

  // Whether the waiting `seq` (Next's) may be admitted in the step TokenBudget last sized, with
  // `running` sequences running. No: it waits at the head, and those behind it too. The slo
  // policy says no when that many sequences and it could not decode together within the
  // tightest TPOT target: every decode makes every step longer, so admitting past that point
  // makes all of them miss. Default: yes.
  virtual bool MayAdmit(const Sequence& /*seq*/, size_t /*running*/) const { return true; }
  // Whether waiting sequences the policy ranks ahead of a running prefill (RanksAhead) are
  // admitted before that prefill gets its chunk. Default: no, running sequences go first.
  virtual bool AdmitsAheadOfRunningPrefills() const { return false; }
  virtual bool RanksAhead(const Sequence& /*waiting*/, const Sequence& /*running*/,
                          absl::Time /*now*/) const {
    return false;
  }
  // How long loading an adapter into the engine takes now (zero when it is resident), for a
  // policy that predicts first tokens. Default: ignored.
  virtual void SetAdapterLoadTime(std::function<absl::Duration(const AdapterRef&)> /*load_time*/) {}
  // A token `seq` produced (fairness counts service with it). Default: nothing.
  virtual void OnTokenGenerated(const Sequence& /*seq*/) {}
  // The step's outputs are applied: charges a policy batched must be on the counters now (the
  // stats and the next step read them). Default: nothing batched.
  virtual void SettleCharges() {}
  // How long a request arriving now would wait for its first token, when the policy can tell
  // (reject_if_slo_unattainable refuses it when that misses its target). Default: no idea.
  virtual std::optional<absl::Duration> PredictTimeToFirstToken(
      const GenerateRequest& /*request*/, absl::Span<Sequence* const> /*running*/,
      absl::Time /*now*/) const {
    return std::nullopt;
  }
};

// The step-time model and fairness counter are the scheduler's (it feeds them measurements and
// tenants' weights); the slo policy reads the first, and every policy keeps the second. Both
// outlive the policy; `fairness` may be null (off).
std::unique_ptr<SchedulingPolicy> MakeSchedulingPolicy(const SchedulerOptions& options,
                                                       const StepTimeModel* model,
                                                       VtcFairness* fairness);

// "vtc" | "none", as --fairness spells them.
std::string_view FairnessName(FairnessKind kind);

// "fcfs" | "priority" | "slo", as --scheduling-policy spells them.
std::string_view SchedulingPolicyName(SchedulingPolicyKind kind);
// The policy named `name`; InvalidArgument naming the valid names otherwise.
absl::StatusOr<SchedulingPolicyKind> ParseSchedulingPolicy(std::string_view name);

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_SCHEDULING_POLICY_H_
