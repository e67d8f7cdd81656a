// --scheduling-policy slo (tesserad's default): decides with the requests' latency targets.
//
//   - Token budget: the largest step that the step-time model predicts to keep every running
//     decode within its time-per-output-token target, so that a long prompt's prefill cannot
//     stall the decodes past their target (stall-free batching with an SLO-derived budget:
//     decodes are fed first, prefill chunks fill what they leave). A request's TPOT is its mean
//     per token after the first (as attainment counts it), so time a decode banked by running
//     faster than its target may go into one longer step; a fresh decode allows its target.
//     Without such targets, max_num_batched_tokens. Every such time limit keeps the model's
//     usual prediction error in reserve (StepTimeModel::error()).
//   - Admission order: interactive (and aged batch) before batch, as the priority policy; within
//     a class, the backlogged tenant with the least weighted service (VTC fairness, when on),
//     counted in quanta from the least served waiting tenant, and among peers (the same quantum)
//     the one served least lately (decayed service); within that tenant, requests that can still
//     meet their time-to-first-token target, earliest deadline first, then those that cannot,
//     oldest first, so that a lost cause does not make feasible requests miss too (it is still
//     served). A request without a target has the deadline arrival + best_effort_ttft, so nothing
//     starves. A preempted sequence goes first (its KV was computed once already).
//   - Victims: batch before interactive, then the most slack (latest deadline), then the newest.
// Ordering and budgets change only timing: a request's tokens are the same under every policy.
//
// Why these rules (bench/slo_sim --diagnose shows what misses and why):
//   - A decode whose request already missed its TTFT target no longer limits the budget: it
//     cannot meet both targets whatever the step does, and its TPOT would only shrink the steps
//     of those that still can.
//   - Steps are also kept within half the tightest TTFT target among recent arrivals (10 s): a
//     request that arrives just after a step began waits for it and is then fed in the next one,
//     so two steps must fit its target. Without it, a document prefilled in one long step at
//     light load made chats that arrived meanwhile miss.
//   - Lost causes are decided early, by predicting finishing times: the waiting and prefilling
//     requests with targets, earliest deadline first, are laid out over the steps the current
//     budget leaves for prefill (Moore-Hodgson: where one would finish late, the one with the
//     most prompt left so far is given up), so that under overload a long prompt that would make
//     several short ones late waits instead of them. Only the first kDoomWindow deadlines are
//     laid out, which bounds the cost per step.
//   - Under fairness, a step that feeds the prompts of a tenant standing ahead of another with
//     prefill work carries only that tenant's prompts: a well-behaved tenant's chat is not fed in
//     a step that a noisy tenant's document chunk makes long, and the finishing-time layout takes
//     tenants in that order too, so a noisy peer's earlier deadlines do not make it a lost cause
//     (slo_sim --fairness-test).
//   - Running prefills are ordered as admission ranks waiting requests: under fairness the
//     tenant with the least service first, so that a tenant over its share cannot hold a
//     well-behaved one's prompt up with the chunks it was admitted earlier.
//   - A running prefill that has become a lost cause goes after those that can still meet
//     their target: it is fed after them, and waiting requests that can are admitted ahead of
//     it. Its deadline (past, or nearly) is the earliest, so by deadline alone a document that
//     was admitted and then overtaken took each step's budget from the chats behind it.
//   - An adapter that must be loaded adds its predicted load time to the request's prefill
//     (ordering, lost causes and reject_if_slo_unattainable).
//   - Prompts that cannot wait past the next step are fed whole in a step that ends by their
//     deadlines, longer or shorter than the half-TTFT preference: two chats arriving during one
//     step no longer split the second over two steps, and a chat whose rest fits is not given up
//     because the preferred step would end just past its deadline.
//   - A budget counts its prefill as one chunk from position 0; its predicted time is also a
//     limit (StepSecondsLimit) to which BatchFormer cuts each chunk with its real attention, as
//     a chunk deep into a long prompt costs far more on a CPU.
//   - Admission waits while the running sequences and the next one could not decode together
//     within the tightest TPOT target: each decode lengthens every step, and past that point
//     every decode misses however small the prefill chunks.
//
// Waiting requests are kept in per-tenant deadline-ordered sets (SloWaitingSet): choosing the
// next one costs O(tenants x log waiting), not a scan of the queue.
//
// Not thread-safe (SchedulingPolicy).
#ifndef TESSERA_SCHEDULER_SLO_POLICY_H_
#define TESSERA_SCHEDULER_SLO_POLICY_H_

#include <deque>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "scheduler/scheduling_policy.h"
#include "scheduler/slo_waiting_set.h"
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
  void SetAdapterLoadTime(std::function<absl::Duration(const AdapterRef&)> load_time) override {
    adapter_load_time_ = std::move(load_time);
  }
  void ForEachWaiting(absl::FunctionRef<bool(const Sequence*)> f) const override;

  int64_t TokenBudget(absl::Span<Sequence* const> running, absl::Time now) const override;
  double StepSecondsLimit() const override { return step_seconds_limit_; }
  void OrderRunning(absl::Span<Sequence* const> running, absl::Time now,
                    std::vector<Sequence*>* order) const override;
  bool MayPreemptFor(const Sequence& head, absl::Time now) const override;
  Sequence* ChooseVictimFor(const Sequence& head, absl::Span<Sequence* const> running,
                            absl::Time now) const override;
  Sequence* ChooseVictim(absl::Span<Sequence* const> candidates, absl::Time now) const override;
  void OnTokenGenerated(const Sequence& seq) override;
  void SettleCharges() override {
    if (fairness_ != nullptr) ChargePendingOutput();
  }
  // Not while the running sequences and `seq` could not decode together within the tightest
  // TPOT target among them and `seq` (requests past their TTFT target aside), by the step-time
  // model and its reserve: past that point every decode misses. The first one always may.
  bool MayAdmit(const Sequence& seq, size_t running) const override;
  // An urgent short prompt goes before the rest of a long one that is prefilling.
  bool AdmitsAheadOfRunningPrefills() const override { return true; }
  // Same class or above; under fairness a tenant with less service; then not a lost cause, and
  // an earlier deadline or `running` is lost.
  bool RanksAhead(const Sequence& waiting, const Sequence& running, absl::Time now) const override;
  std::optional<absl::Duration> PredictTimeToFirstToken(const GenerateRequest& request,
                                                        absl::Span<Sequence* const> running,
                                                        absl::Time now) const override;

  // What the running sequences would cost decoding together, for admission (MayAdmit).
  struct RunningLoad {
    double tpot = std::numeric_limits<double>::infinity();  // the tightest target, seconds
    int64_t sequences = 0;
    int64_t context = 0;  // tokens each attends to once decoding, summed
    int64_t adapters = 0;
    void Add(const Sequence& seq, absl::Time now);
  };

  // The TTFT deadline of `seq`'s request: arrival + its target, or + best_effort_ttft.
  absl::Time Deadline(const Sequence& seq) const;
  // Predicted seconds to prefill what `seq` has left of its prompt in one step alone, plus its
  // adapter's load when that is not resident.
  double PrefillSeconds(const Sequence& seq) const;
  // Whether `seq` cannot meet its TTFT target even if it ran now, alone (for good, as time only
  // moves on), or will not in the deadline schedule of the requests with targets (for now).
  bool IsLostCause(const Sequence& seq, absl::Time now) const;

  // How many deadlines, earliest first, the finishing-time prediction lays out per step.
  static constexpr size_t kDoomWindow = 128;
  // The unit in which tenants' weighted service is compared (VTC counters: weighted tokens).
  // VTC keeps backlogged tenants within about one request's service of each other anyway; an
  // exact comparison inside that margin put a well-behaved tenant's chat, charged its prompt a
  // moment before, behind a noisy tenant's documents (slo_sim --fairness-test). The margin adds
  // at most one quantum to VTC's bound on the service difference. 2048: a long document's prompt,
  // so that a well-behaved tenant charged one is still a peer (1024: its chats then waited, at
  // 4+40 req/s, for the noisy tenant to catch up; p99 3.5x its TTFT alone against 2.3x).
  static constexpr double kServiceQuantum = 2048;
  // How many tenants' output counters OnTokenGenerated finds by a scan before hashing.
  static constexpr size_t kPendingScan = 8;
  // A tenant's place in the fairness order, smaller first: its service in whole kServiceQuantum,
  // then among peers (the same quantum) its recent service (weighted tokens, decayed with
  // kRecentServiceTime): VTC lifts a tenant back from idle to the others' counter, so a
  // well-behaved tenant and a noisy one are peers most of the time, and what tells them apart is
  // how much each has been served lately.
  using Standing = std::pair<double, double>;
  // The time constant of the recent service's exponential decay.
  static constexpr absl::Duration kRecentServiceTime = absl::Seconds(10);

 private:
  // (yields to interactive, tenant's standing, lost, deadline or arrival if lost, entry order):
  // the smaller is admitted first.
  using Rank = std::tuple<bool, Standing, bool, absl::Time, int64_t>;
  struct Choice {
    Sequence* seq = nullptr;
    Rank rank;
  };

  // The weighted service of a tenant in whole kServiceQuantum (0 without fairness): tenants
  // within one quantum of each other are peers, which deadlines order.
  double Service(std::string_view tenant) const;
  // Where a tenant stands in the fairness order, (service quantum, recent service); {0, 0}
  // without fairness.
  Standing TenantStanding(std::string_view tenant) const;
  Standing TenantStanding(const Sequence& seq) const;
  // The prompt tokens (up to `cap`) that the step may feed when a tenant that stands ahead of
  // another with prefill work has prompts waiting or prefilling: its own (the best standing's);
  // -1 when no tenant stands ahead of another, or without fairness.
  int64_t FavoredPromptTokens(absl::Span<const Sequence* const> prefills, int64_t cap) const;
  // The prefill of this step that completes the urgent prompts, those with a TTFT target they
  // can still meet and a deadline within two steps of `preferred` prefill tokens: the most of
  // them, in the order the step feeds them, that a step can complete by each one's deadline (of
  // which the fraction `usable` is used, the rest kept for prediction error) and within
  // `tightest` seconds (the decodes' TPOT, already reduced so) and `cap` tokens.
  struct UrgentFit {
    int64_t tokens = 0;  // 0: none fits
    double seconds = 0;  // the predicted step, with these prompts' real attention
    double limit = 0;    // the most it may take: their earliest deadline, the decodes' TPOT
  };
  UrgentFit UrgentPrefill(const StepShape& decodes, double tightest, double usable, int64_t cap,
                          int64_t preferred, absl::Time now) const;
  // Whether `seq` gives way to interactive work at `now` (batch, younger than batch_max_wait).
  bool YieldsToInteractive(const Sequence& seq, absl::Time now) const;
  // Not even a step of its own now (and its adapter's load) would make its deadline.
  bool LostAlone(const Sequence& seq, absl::Time now) const;
  // Lost for good: as LostAlone without the adapter's load, which may yet be avoided (a prefetch
  // makes the adapter resident); time only moves on, so this stays true.
  bool LostForGood(const Sequence& seq, absl::Time now) const;
  // Predicted seconds of the prefill alone, without any adapter load.
  double ComputeSeconds(const Sequence& seq) const;
  // The waiting sequence (not requeued) to admit next.
  Choice Best(absl::Time now) const;
  // The best of `queue` for a tenant at `standing`: the earliest deadline that is not lost
  // (moving those lost for good out of the way), else the oldest lost one.
  void Consider(SloWaitingSet::Queue& queue, Standing standing, absl::Time now, Choice* best) const;
  // Recomputes doomed_ (the Moore-Hodgson layout) once per step and change of the queue.
  void RefreshDoomed(absl::Time now) const;
  void LeftWaiting(const Sequence& seq);
  // Charges the output tokens counted since the last call to their tenants' service.
  void ChargePendingOutput() const;
  // Charges `tenant`'s VTC counter through `charge` and adds what it gained to its recent
  // service.
  void Charge(std::string_view tenant, const std::function<absl::Status()>& charge) const;
  // Decays the recent service to `now` (once per step: the clock of the charges).
  void DecayRecentService(absl::Time now) const;
  // Sets service_base_ to the least counter among the tenants waiting.
  void RebaseService() const;
  // Service is counted in quanta from here: the least served waiting tenant's counter, so that
  // tenants within a quantum of it are peers (quanta of the absolute counter put two tenants a
  // few tokens apart on either side of a boundary now and then).
  mutable double service_base_ = 0;

  // Each tenant's recent service as of recent_at_ (the latest step's time).
  mutable absl::flat_hash_map<std::string, double> recent_service_;
  mutable absl::Time recent_at_ = absl::InfinitePast();

  int64_t max_num_batched_tokens_;
  absl::Duration batch_max_wait_;
  absl::Duration best_effort_ttft_;
  const StepTimeModel* model_;
  VtcFairness* fairness_;
  std::function<absl::Duration(const AdapterRef&)> adapter_load_time_;
  std::deque<Sequence*> requeued_;  // preempted, in the order they go back
  // Never run. Mutable: finding the next one moves the lost ones it meets out of the way.
  mutable SloWaitingSet waiting_;
  int64_t version_ = 0;  // changes whenever a sequence joins or leaves waiting_

  // What the step at step_at_ looked like when TokenBudget sized it: its running prefills and the
  // prefill it leaves per step (tokens, predicted step seconds); the finishing-time layout uses it.
  mutable absl::Time step_at_ = absl::InfinitePast();
  mutable std::vector<const Sequence*> step_prefills_;
  mutable int64_t step_prefill_tokens_ = 0;
  mutable double step_seconds_ = 0;
  mutable double step_seconds_limit_ = std::numeric_limits<double>::infinity();
  // The running sequences as TokenBudget saw them, and the fraction of time limits it used.
  mutable RunningLoad load_;
  mutable double load_usable_ = 1;
  // Output tokens not charged to fairness_ yet, by tenant (the stats entry is stable; the name
  // is kept because a request may be gone by the time they are charged).
  struct PendingOutput {
    std::string tenant;
    int64_t tokens = 0;
  };
  mutable absl::flat_hash_map<const TenantStats*, PendingOutput> pending_output_;
  // The entries of pending_output_ found lately, scanned before it (at most kPendingScan; valid
  // while the map keeps pending_size_ entries, as it does not move them then).
  std::vector<std::pair<const TenantStats*, PendingOutput*>> pending_recent_;
  size_t pending_size_ = 0;
  // UrgentPrefill's scratch list.
  struct Urgent {
    Standing standing;
    absl::Time deadline;
    const Sequence* seq;
  };
  mutable std::vector<Urgent> urgent_;
  // OrderRunning's scratch lists, reused from step to step.
  mutable std::vector<Sequence*> order_prefills_, order_yielding_;
  // Sequences the layout gives up, as of (doomed_at_, doomed_version_).
  mutable absl::flat_hash_set<const Sequence*> doomed_;
  mutable absl::Time doomed_at_ = absl::InfinitePast();
  mutable int64_t doomed_version_ = -1;
  // The tightest TTFT target among arrivals of the last kRecentTargetWindow, and when it came.
  absl::Duration recent_ttft_target_ = absl::InfiniteDuration();
  absl::Time recent_ttft_at_ = absl::InfinitePast();
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_SLO_POLICY_H_
