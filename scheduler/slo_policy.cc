#include "scheduler/slo_policy.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

namespace tessera {
namespace {

double Seconds(absl::Duration d) { return absl::ToDoubleSeconds(d); }

bool HasAdapter(const Sequence& seq) { return seq.request->request.adapter != nullptr; }

// The running decodes as a step shape, and the longest step that keeps every one of them within
// its TPOT target (infinity: none has one). A request's TPOT is its mean time per output token
// after the first, as the attainment metrics measure it: a decode that has produced k tokens
// since its first one at t1 keeps its target T after this step if the step ends by
// t1 + T * (k + 1). Time it banked by running faster than T may thus go into one longer step
// (a prefill chunk that would otherwise stall it), and a fresh decode gets T itself.
StepShape DecodeShape(absl::Span<Sequence* const> running, absl::Time now, double* tightest) {
  StepShape shape;
  *tightest = std::numeric_limits<double>::infinity();
  for (const Sequence* seq : running) {
    if (!seq->is_decode()) continue;
    ++shape.decode_sequences;
    shape.attended_tokens += seq->total_len();
    if (HasAdapter(*seq)) ++shape.adapter_rows;
    const RequestState& r = *seq->request;
    if (!r.request.tpot_target.has_value()) continue;
    const double target = Seconds(*r.request.tpot_target);
    const auto after_first = static_cast<double>(std::max<size_t>(seq->output.size(), 1) - 1);
    const double spent = r.first_token.has_value() ? Seconds(now - *r.first_token) : 0.0;
    *tightest = std::min(*tightest, std::max(0.0, target * (after_first + 1) - spent));
  }
  return shape;
}

}  // namespace

SloPolicy::SloPolicy(const SchedulerOptions& options, const StepTimeModel* model,
                     VtcFairness* fairness)
    : max_num_batched_tokens_(options.max_num_batched_tokens),
      batch_max_wait_(options.batch_max_wait),
      best_effort_ttft_(options.best_effort_ttft),
      model_(model),
      fairness_(fairness) {}

bool SloPolicy::YieldsToInteractive(const Sequence& seq, absl::Time now) const {
  const RequestState& r = *seq.request;
  return r.request.priority == Priority::kBatch && now - r.arrival < batch_max_wait_;
}

absl::Time SloPolicy::Deadline(const Sequence& seq) const {
  const RequestState& r = *seq.request;
  return r.arrival + r.request.ttft_target.value_or(best_effort_ttft_);
}

double SloPolicy::PrefillSeconds(const Sequence& seq) const {
  const int64_t left = std::max<int64_t>(0, seq.prompt_len() - seq.num_computed);
  StepShape shape;
  shape.prefill_tokens = left;
  shape.attended_tokens = StepShape::AttendedByChunk(seq.num_computed, left);
  if (HasAdapter(seq)) shape.adapter_rows = left;
  return model_->Predict(shape);
}

bool SloPolicy::IsLostCause(const Sequence& seq, absl::Time now) const {
  return seq.request->request.ttft_target.has_value() &&
         now + absl::Seconds(PrefillSeconds(seq)) > Deadline(seq);
}

void SloPolicy::Enqueue(Sequence* seq, absl::Time) {
  waiting_.push_back(seq);
  if (fairness_ != nullptr) fairness_->OnWaiting(seq->request->request.tenant);
}

void SloPolicy::Requeue(Sequence* seq) { requeued_.push_front(seq); }

void SloPolicy::LeftWaiting(const Sequence& seq) {
  if (fairness_ != nullptr) fairness_->OnLeftWaiting(seq.request->request.tenant).IgnoreError();
}

std::vector<Sequence*>::const_iterator SloPolicy::Best(absl::Time now) const {
  // One pass: the smallest (class, tenant's service, lost cause, deadline or arrival, arrival).
  using Key = std::tuple<bool, double, bool, absl::Time, absl::Time>;
  auto best = waiting_.end();
  Key best_key;
  for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
    const Sequence& seq = **it;
    const RequestState& r = *seq.request;
    const bool yields = YieldsToInteractive(seq, now);
    const double service = fairness_ != nullptr ? fairness_->Counter(r.request.tenant) : 0.0;
    const absl::Time deadline = Deadline(seq);
    const bool lost = IsLostCause(seq, now);
    const Key key{yields, service, lost, lost ? r.arrival : deadline, r.arrival};
    if (best == waiting_.end() || key < best_key) {
      best = it;
      best_key = key;
    }
  }
  return best;
}

Sequence* SloPolicy::Next(absl::Time now) const {
  if (!requeued_.empty()) return requeued_.front();
  auto it = Best(now);
  return it == waiting_.end() ? nullptr : *it;
}

void SloPolicy::PopNext(absl::Time now) {
  if (!requeued_.empty()) {
    requeued_.pop_front();
    return;
  }
  auto it = Best(now);
  if (it == waiting_.end()) return;
  const Sequence& seq = **it;
  LeftWaiting(seq);
  // The prompt is service once, at first admission; recomputation after preemption is not.
  if (fairness_ != nullptr) {
    fairness_->ChargeInput(seq.request->request.tenant, seq.prompt_len()).IgnoreError();
  }
  waiting_.erase(it);
}

bool SloPolicy::Remove(const Sequence* seq) {
  if (auto it = std::find(requeued_.begin(), requeued_.end(), seq); it != requeued_.end()) {
    requeued_.erase(it);
    return true;
  }
  auto it = std::find(waiting_.begin(), waiting_.end(), seq);
  if (it == waiting_.end()) return false;
  LeftWaiting(**it);
  waiting_.erase(it);
  return true;
}

void SloPolicy::ForEachWaiting(absl::FunctionRef<bool(const Sequence*)> f) const {
  // Requeued first, then by deadline: close to the admission order, without the fairness pass.
  for (const Sequence* seq : requeued_) {
    if (!f(seq)) return;
  }
  std::vector<const Sequence*> by_deadline(waiting_.begin(), waiting_.end());
  std::stable_sort(
      by_deadline.begin(), by_deadline.end(),
      [&](const Sequence* a, const Sequence* b) { return Deadline(*a) < Deadline(*b); });
  for (const Sequence* seq : by_deadline) {
    if (!f(seq)) return;
  }
}

int64_t SloPolicy::TokenBudget(absl::Span<Sequence* const> running, absl::Time now) const {
  double tightest = 0;
  const StepShape decodes = DecodeShape(running, now, &tightest);
  if (!std::isfinite(tightest)) return max_num_batched_tokens_;
  const int64_t d = decodes.decode_sequences;
  const int64_t cap = std::max<int64_t>(0, max_num_batched_tokens_ - d);
  const int64_t prefill = model_->MaxPrefillTokens(decodes, tightest, cap);
  // Even the decodes alone are predicted over the target: feed just them (the prefills wait for
  // decodes to finish, which they do within their max_tokens).
  return std::min<int64_t>(max_num_batched_tokens_, d + std::max<int64_t>(0, prefill));
}

void SloPolicy::OrderRunning(absl::Span<Sequence* const> running, absl::Time now,
                             std::vector<Sequence*>* order) const {
  // Class first (as the priority policy); within a class decodes first (they carry the TPOT
  // targets), then prefills by deadline.
  order->clear();
  for (bool yielding : {false, true}) {
    for (Sequence* seq : running) {
      if (YieldsToInteractive(*seq, now) == yielding && seq->is_decode()) order->push_back(seq);
    }
    const size_t prefills = order->size();
    for (Sequence* seq : running) {
      if (YieldsToInteractive(*seq, now) == yielding && !seq->is_decode()) order->push_back(seq);
    }
    std::stable_sort(
        order->begin() + static_cast<std::ptrdiff_t>(prefills), order->end(),
        [&](const Sequence* a, const Sequence* b) { return Deadline(*a) < Deadline(*b); });
  }
}

bool SloPolicy::MayPreemptFor(const Sequence& head, absl::Time now) const {
  return !YieldsToInteractive(head, now);
}

Sequence* SloPolicy::ChooseVictimFor(const Sequence& head, absl::Span<Sequence* const> running,
                                     absl::Time now) const {
  if (!MayPreemptFor(head, now)) return nullptr;
  std::vector<Sequence*> yielding;
  for (Sequence* s : running) {
    if (YieldsToInteractive(*s, now)) yielding.push_back(s);
  }
  return yielding.empty() ? nullptr : ChooseVictim(yielding, now);
}

Sequence* SloPolicy::ChooseVictim(absl::Span<Sequence* const> candidates, absl::Time now) const {
  // Batch first, then the most slack (latest deadline), then the newest.
  Sequence* victim = nullptr;
  std::tuple<bool, absl::Time, int64_t> victim_key;
  for (Sequence* s : candidates) {
    const std::tuple<bool, absl::Time, int64_t> key{YieldsToInteractive(*s, now), Deadline(*s),
                                                    s->admit_order};
    if (victim == nullptr || key > victim_key) {
      victim = s;
      victim_key = key;
    }
  }
  return victim;
}

bool SloPolicy::RanksAhead(const Sequence& waiting, const Sequence& running, absl::Time now) const {
  if (YieldsToInteractive(waiting, now) && !YieldsToInteractive(running, now)) return false;
  return !IsLostCause(waiting, now) && Deadline(waiting) < Deadline(running);
}

void SloPolicy::OnTokenGenerated(const Sequence& seq) {
  if (fairness_ != nullptr) fairness_->ChargeOutput(seq.request->request.tenant, 1).IgnoreError();
}

std::optional<absl::Duration> SloPolicy::PredictTimeToFirstToken(
    const GenerateRequest& request, absl::Span<Sequence* const> running, absl::Time now) const {
  // Prompt tokens that go before this request's: running prefills, preempted sequences, and
  // waiting ones of its class or above whose deadline is no later; then its own. Steps of the
  // budget the decodes leave, each predicted as such a step.
  const absl::Time deadline = now + request.ttft_target.value_or(best_effort_ttft_);
  const bool batch = request.priority == Priority::kBatch;
  auto left = [](const Sequence* s) {
    return std::max<int64_t>(0, s->prompt_len() - s->num_computed);
  };
  int64_t ahead = static_cast<int64_t>(request.prompt_token_ids.size());
  for (const Sequence* s : running) {
    if (!s->is_decode()) ahead += left(s);
  }
  for (const Sequence* s : requeued_) ahead += left(s);
  for (const Sequence* s : waiting_) {
    if ((batch || !YieldsToInteractive(*s, now)) && Deadline(*s) <= deadline) ahead += left(s);
  }
  double tightest = 0;
  const StepShape decodes = DecodeShape(running, now, &tightest);
  const int64_t per_step =
      std::max<int64_t>(1, TokenBudget(running, now) - decodes.decode_sequences);
  const int64_t steps = (ahead + per_step - 1) / per_step;
  StepShape step = decodes;
  const int64_t chunk = std::min(ahead, per_step);
  step.prefill_tokens += chunk;
  step.attended_tokens += StepShape::AttendedByChunk(0, chunk);
  return absl::Seconds(static_cast<double>(steps) * model_->Predict(step));
}

}  // namespace tessera
