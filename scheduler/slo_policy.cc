#include "scheduler/slo_policy.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <tuple>

namespace tessera {
namespace {

// absl::ToDoubleSeconds divides durations in general (FDivDuration); this runs per decode per
// step, so whole nanoseconds, which is what the clock counts.
double Seconds(absl::Duration d) {
  if (d == absl::InfiniteDuration()) return std::numeric_limits<double>::infinity();
  if (d == -absl::InfiniteDuration()) return -std::numeric_limits<double>::infinity();
  return static_cast<double>(absl::ToInt64Nanoseconds(d)) * 1e-9;
}

bool HasAdapter(const Sequence& seq) { return seq.request->request.adapter != nullptr; }

// Whether `r`'s first token came, or will come at best at `now`, past its TTFT target: it cannot
// meet both targets, so its TPOT target no longer limits anything.
bool PastTtftTarget(const RequestState& r, absl::Time now) {
  return r.request.ttft_target.has_value() &&
         r.first_token.value_or(now) - r.arrival > *r.request.ttft_target;
}

// The running decodes as a step shape, and the longest step that keeps every one of them within
// its TPOT target (infinity: none has one). A request's TPOT is its mean time per output token
// after the first, as the attainment metrics measure it: a decode that has produced k tokens
// since its first one at t1 keeps its target T after this step if the step ends by
// t1 + T * (k + 1). Time it banked by running faster than T may thus go into one longer step
// (a prefill chunk that would otherwise stall it), and a fresh decode gets T itself. A decode
// whose request missed its TTFT target does not count.
// The running prefills go to `prefills`, and what admission needs to know to `load`, when given.
StepShape DecodeShape(absl::Span<Sequence* const> running, absl::Time now, double* tightest,
                      std::vector<const Sequence*>* prefills = nullptr,
                      SloPolicy::RunningLoad* load = nullptr) {
  StepShape shape;
  *tightest = std::numeric_limits<double>::infinity();
  if (load != nullptr) *load = SloPolicy::RunningLoad();
  for (const Sequence* seq : running) {
    if (load != nullptr) load->Add(*seq, now);
    if (!seq->is_decode()) {
      if (prefills != nullptr) prefills->push_back(seq);
      continue;
    }
    ++shape.decode_sequences;
    shape.attended_tokens += seq->total_len();
    if (HasAdapter(*seq)) ++shape.adapter_rows;
    const RequestState& r = *seq->request;
    if (!r.request.tpot_target.has_value()) continue;
    if (PastTtftTarget(r, now)) continue;  // cannot meet both whatever this step does
    const double target = Seconds(*r.request.tpot_target);
    const auto after_first = static_cast<double>(std::max<size_t>(seq->output.size(), 1) - 1);
    const double spent = r.first_token.has_value() ? Seconds(now - *r.first_token) : 0.0;
    *tightest = std::min(*tightest, std::max(0.0, target * (after_first + 1) - spent));
  }
  return shape;
}

// The tightest TTFT target counts for steps this long after its request arrived.
constexpr absl::Duration kRecentTargetWindow = absl::Seconds(10);

int64_t PromptLeft(const Sequence& seq) {
  return std::max<int64_t>(0, seq.prompt_len() - seq.num_computed);
}

}  // namespace

void SloPolicy::RunningLoad::Add(const Sequence& seq, absl::Time now) {
  ++sequences;
  context += seq.is_decode() ? seq.total_len() : seq.prompt_len();
  if (HasAdapter(seq)) ++adapters;
  const RequestState& r = *seq.request;
  if (!r.request.tpot_target.has_value()) return;
  if (PastTtftTarget(r, now)) return;
  tpot = std::min(tpot, Seconds(*r.request.tpot_target));
}

bool SloPolicy::MayAdmit(const Sequence& seq, size_t running) const {
  double target = load_.tpot;
  const RequestState& r = *seq.request;
  if (r.request.tpot_target.has_value() && !PastTtftTarget(r, step_at_)) {
    target = std::min(target, Seconds(*r.request.tpot_target));
  }
  if (running == 0 || !std::isfinite(target)) return true;
  // Every running sequence decoding at once, `seq` too, each attending to the average context
  // (this step's admissions counted at that average).
  const auto n = static_cast<int64_t>(running) + 1;
  const double context = static_cast<double>(load_.context + seq.total_len()) /
                         static_cast<double>(load_.sequences + 1);
  StepShape decodes;
  decodes.decode_sequences = n;
  decodes.attended_tokens = static_cast<int64_t>(context * static_cast<double>(n));
  decodes.adapter_rows = load_.adapters + (HasAdapter(seq) ? 1 : 0);
  return model_->Predict(decodes) <= target * load_usable_;
}

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

double SloPolicy::Service(std::string_view tenant) const {
  if (fairness_ == nullptr) return 0.0;
  return std::floor((fairness_->Counter(tenant) - service_base_) / kServiceQuantum);
}

SloPolicy::Standing SloPolicy::TenantStanding(std::string_view tenant) const {
  if (fairness_ == nullptr) return {0.0, 0.0};
  auto it = recent_service_.find(absl::string_view(tenant.data(), tenant.size()));
  return {Service(tenant), it == recent_service_.end() ? 0.0 : it->second};
}

void SloPolicy::Charge(std::string_view tenant, const std::function<absl::Status()>& charge) const {
  const double before = fairness_->Counter(tenant);
  charge().IgnoreError();
  recent_service_[absl::string_view(tenant.data(), tenant.size())] +=
      fairness_->Counter(tenant) - before;
}

void SloPolicy::DecayRecentService(absl::Time now) const {
  if (now <= recent_at_) return;
  if (recent_at_ != absl::InfinitePast()) {
    const double keep = std::exp(-Seconds(now - recent_at_) / Seconds(kRecentServiceTime));
    for (auto& [tenant, service] : recent_service_) service *= keep;
  }
  recent_at_ = now;
}

void SloPolicy::RebaseService() const {
  double base = std::numeric_limits<double>::infinity();
  for (const auto& [name, tenant] : waiting_.tenants()) {
    base = std::min(base, fairness_->Counter(name));
  }
  service_base_ = std::isfinite(base) ? base : 0.0;
}

SloPolicy::Standing SloPolicy::TenantStanding(const Sequence& seq) const {
  return TenantStanding(seq.request->request.tenant);
}

int64_t SloPolicy::FavoredPromptTokens(absl::Span<const Sequence* const> prefills,
                                       int64_t cap) const {
  if (fairness_ == nullptr) return -1;
  // The tenants with prefill work: waiting or prefilling.
  std::optional<Standing> best, worst;
  std::string_view favored;
  const auto see = [&](std::string_view tenant) {
    const Standing s = TenantStanding(tenant);
    if (!best.has_value() || s < *best) {
      best = s;
      favored = tenant;
    }
    if (!worst.has_value() || s > *worst) worst = s;
  };
  for (const auto& [name, tenant] : waiting_.tenants()) see(name);
  for (const Sequence* seq : prefills) see(seq->request->request.tenant);
  if (!best.has_value() || *best == *worst) return -1;
  int64_t tokens = 0;
  for (const Sequence* seq : prefills) {
    if (seq->request->request.tenant == favored) tokens += PromptLeft(*seq);
  }
  if (auto it = waiting_.tenants().find(favored); it != waiting_.tenants().end()) {
    for (const SloWaitingSet::Queue* q : {&it->second.interactive, &it->second.batch}) {
      for (const auto* keys : {&q->by_deadline, &q->lost}) {
        for (const SloWaitingSet::Key& k : *keys) {
          if (tokens >= cap) return cap;
          tokens += PromptLeft(*k.seq);
        }
      }
    }
  }
  return std::min(tokens, cap);
}

double SloPolicy::PrefillSeconds(const Sequence& seq) const {
  double seconds = ComputeSeconds(seq);
  if (HasAdapter(seq) && adapter_load_time_ && seq.request->adapter_slot < 0) {
    seconds += Seconds(adapter_load_time_(*seq.request->request.adapter));
  }
  return seconds;
}

double SloPolicy::ComputeSeconds(const Sequence& seq) const {
  const int64_t left = std::max<int64_t>(0, seq.prompt_len() - seq.num_computed);
  StepShape shape;
  shape.prefill_tokens = left;
  shape.attended_tokens = StepShape::AttendedByChunk(seq.num_computed, left);
  if (HasAdapter(seq)) shape.adapter_rows = left;
  return model_->Predict(shape);
}

bool SloPolicy::LostAlone(const Sequence& seq, absl::Time now) const {
  return seq.request->request.ttft_target.has_value() &&
         now + absl::Seconds(PrefillSeconds(seq)) > Deadline(seq);
}

bool SloPolicy::LostForGood(const Sequence& seq, absl::Time now) const {
  return seq.request->request.ttft_target.has_value() &&
         now + absl::Seconds(ComputeSeconds(seq)) > Deadline(seq);
}

bool SloPolicy::IsLostCause(const Sequence& seq, absl::Time now) const {
  if (!seq.request->request.ttft_target.has_value()) return false;
  if (LostAlone(seq, now)) return true;
  RefreshDoomed(now);
  return doomed_.contains(&seq);
}

void SloPolicy::RefreshDoomed(absl::Time now) const {
  if (doomed_at_ == now && doomed_version_ == version_) return;
  doomed_at_ = now;
  doomed_version_ = version_;
  doomed_.clear();
  // Needs the step's shape (TokenBudget at this time); between steps nothing is given up.
  if (step_at_ != now || step_prefill_tokens_ <= 0) return;
  struct Job {
    absl::Time deadline;
    int64_t left;
    const Sequence* seq;
    Standing standing;
  };
  std::vector<Job> jobs;
  for (const SloWaitingSet::Key& k : waiting_.by_deadline()) {
    if (jobs.size() >= kDoomWindow) break;
    if (k.seq->request->request.ttft_target.has_value()) {
      jobs.push_back({k.deadline, PromptLeft(*k.seq), k.seq, TenantStanding(*k.seq)});
    }
  }
  // Running prefills compete for the same steps (waiting requests may be fed before them).
  for (const Sequence* s : step_prefills_) {
    if (s->request->request.ttft_target.has_value()) {
      jobs.push_back({Deadline(*s), PromptLeft(*s), s, TenantStanding(*s)});
    }
  }
  // In the order admission ranks them: the tenants' standing under fairness, then deadlines.
  std::stable_sort(jobs.begin(), jobs.end(), [](const Job& a, const Job& b) {
    return std::tie(a.standing, a.deadline) < std::tie(b.standing, b.deadline);
  });
  // Moore-Hodgson over steps of step_prefill_tokens_: a job finishes at the end of the step
  // that feeds its last token; when one would be late, the largest job so far of its standing is
  // given up (those of tenants that stand ahead go first whatever their size, as admission
  // takes them). Max-heap by tokens left, then deadline: a tie gives up the later deadline, not
  // whichever sequence happens to sit at the higher address (that made runs differ).
  const auto smaller = [](const Job& a, const Job& b) {
    return std::tie(a.left, a.deadline) < std::tie(b.left, b.deadline);
  };
  std::vector<Job> kept;  // of the current standing
  int64_t tokens = 0;
  for (const Job& job : jobs) {
    if (!kept.empty() && kept.front().standing != job.standing) kept.clear();
    tokens += job.left;
    kept.push_back(job);
    std::push_heap(kept.begin(), kept.end(), smaller);
    const int64_t steps = (tokens + step_prefill_tokens_ - 1) / step_prefill_tokens_;
    if (now + absl::Seconds(static_cast<double>(steps) * step_seconds_) > job.deadline) {
      std::pop_heap(kept.begin(), kept.end(), smaller);
      tokens -= kept.back().left;
      doomed_.insert(kept.back().seq);
      kept.pop_back();
    }
  }
}

void SloPolicy::Enqueue(Sequence* seq, absl::Time now) {
  const RequestState& r = *seq->request;
  if (r.request.ttft_target.has_value() && (*r.request.ttft_target <= recent_ttft_target_ ||
                                            now - recent_ttft_at_ > kRecentTargetWindow)) {
    recent_ttft_target_ = *r.request.ttft_target;
    recent_ttft_at_ = now;
  }
  waiting_.Add(seq, Deadline(*seq));
  ++version_;
  if (fairness_ != nullptr) fairness_->OnWaiting(r.request.tenant);
}

void SloPolicy::Requeue(Sequence* seq) { requeued_.push_front(seq); }

void SloPolicy::LeftWaiting(const Sequence& seq) {
  if (fairness_ != nullptr) fairness_->OnLeftWaiting(seq.request->request.tenant).IgnoreError();
}

void SloPolicy::Consider(SloWaitingSet::Queue& queue, Standing standing, absl::Time now,
                         Choice* best) const {
  // Skips the sequences the deadline layout gives up (at most kDoomWindow of them) and moves
  // those lost for good; the first feasible one is the queue's candidate.
  const Sequence* doomed = nullptr;
  int64_t doomed_order = 0;
  for (auto it = queue.by_deadline.begin(); it != queue.by_deadline.end();) {
    const SloWaitingSet::Key key = *it;
    ++it;
    const Sequence& seq = *key.seq;
    if (LostForGood(seq, now)) {
      waiting_.MarkLost(queue, key);
      continue;
    }
    if (seq.request->request.ttft_target.has_value() && IsLostCause(seq, now)) {
      if (doomed == nullptr) {
        doomed = &seq;
        doomed_order = key.order;
      }
      continue;
    }
    const Rank rank{YieldsToInteractive(seq, now), standing, false, key.deadline, key.order};
    if (best->seq == nullptr || rank < best->rank) *best = {key.seq, rank};
    return;
  }
  // None feasible: the oldest of the lost and the given up.
  Sequence* oldest = nullptr;
  int64_t order = 0;
  if (!queue.lost.empty()) {
    oldest = queue.lost.begin()->seq;
    order = queue.lost.begin()->order;
  }
  if (doomed != nullptr && (oldest == nullptr || doomed_order < order)) {
    oldest = const_cast<Sequence*>(doomed);
    order = doomed_order;
  }
  if (oldest == nullptr) return;
  const Rank rank{YieldsToInteractive(*oldest, now), standing, true, oldest->request->arrival,
                  order};
  if (best->seq == nullptr || rank < best->rank) *best = {oldest, rank};
}

SloPolicy::Choice SloPolicy::Best(absl::Time now) const {
  if (fairness_ != nullptr) {
    DecayRecentService(now);
    ChargePendingOutput();
    RebaseService();
  }
  // Per tenant its best candidate, then the smallest rank: class first, then the tenant's
  // service (VTC), then feasible before lost, then deadline (lost: arrival).
  Choice best;
  for (auto& [name, tenant] : waiting_.tenants()) {
    const Standing standing = TenantStanding(name);
    Consider(tenant.interactive, standing, now, &best);
    if (tenant.batch.empty()) continue;
    // Batch requests that waited past batch_max_wait compete as interactive work (they are
    // admitted soon, so few are aged at a time).
    for (const SloWaitingSet::Key& aged : tenant.batch_by_age) {
      if (YieldsToInteractive(*aged.seq, now)) break;
      const bool lost = IsLostCause(*aged.seq, now);
      const Rank rank{false, standing, lost,
                      lost ? aged.seq->request->arrival : Deadline(*aged.seq), aged.order};
      if (best.seq == nullptr || rank < best.rank) best = {aged.seq, rank};
    }
    Consider(tenant.batch, standing, now, &best);
  }
  return best;
}

Sequence* SloPolicy::Next(absl::Time now) const {
  if (!requeued_.empty()) return requeued_.front();
  return Best(now).seq;
}

void SloPolicy::PopNext(absl::Time now) {
  if (!requeued_.empty()) {
    requeued_.pop_front();
    return;
  }
  Sequence* seq = Best(now).seq;
  if (seq == nullptr) return;
  waiting_.Remove(seq);
  ++version_;
  LeftWaiting(*seq);
  // The prompt is service once, at first admission; recomputation after preemption is not.
  if (fairness_ != nullptr) {
    const std::string& tenant = seq->request->request.tenant;
    Charge(tenant, [&] { return fairness_->ChargeInput(tenant, seq->prompt_len()); });
  }
}

bool SloPolicy::Remove(const Sequence* seq) {
  if (auto it = std::find(requeued_.begin(), requeued_.end(), seq); it != requeued_.end()) {
    requeued_.erase(it);
    return true;
  }
  if (!waiting_.Remove(seq)) return false;
  ++version_;
  LeftWaiting(*seq);
  return true;
}

void SloPolicy::ForEachWaiting(absl::FunctionRef<bool(const Sequence*)> f) const {
  // Requeued first, then by deadline: close to the admission order, without the fairness pass.
  for (const Sequence* seq : requeued_) {
    if (!f(seq)) return;
  }
  for (const SloWaitingSet::Key& k : waiting_.by_deadline()) {
    if (!f(k.seq)) return;
  }
}

int64_t SloPolicy::TokenBudget(absl::Span<Sequence* const> running, absl::Time now) const {
  // Once a step at least, so that the counters (metrics read them) lag by one step at most.
  if (fairness_ != nullptr) {
    DecayRecentService(now);
    ChargePendingOutput();
    RebaseService();
  }
  double tightest = 0;
  step_prefills_.clear();
  const StepShape decodes = DecodeShape(running, now, &tightest, &step_prefills_, &load_);
  const int64_t d = decodes.decode_sequences;
  const int64_t cap = std::max<int64_t>(0, max_num_batched_tokens_ - d);
  // Time limits below keep the model's usual error in reserve (PredictionError): a step sized
  // to end exactly at a decode's allowance overruns it half the time.
  const double usable = 1 / (1 + model_->error().Margin());
  load_usable_ = usable;
  tightest *= usable;
  int64_t budget = max_num_batched_tokens_;
  if (std::isfinite(tightest)) {
    const int64_t prefill = model_->MaxPrefillTokens(decodes, tightest, cap);
    // Even the decodes alone are predicted over the target: feed just them (the prefills wait
    // for decodes to finish, which they do within their max_tokens).
    budget = std::min<int64_t>(max_num_batched_tokens_, d + std::max<int64_t>(0, prefill));
  }
  // Two steps within the tightest recent TTFT target: one that a new arrival waits for, its own.
  // A preference, not a target: it never takes the last prefill token of a step.
  if (now - recent_ttft_at_ <= kRecentTargetWindow && budget > d) {
    const int64_t prefill = model_->MaxPrefillTokens(
        decodes, std::min(tightest, usable * Seconds(recent_ttft_target_) / 2), cap);
    budget = std::min(budget, d + std::max<int64_t>(1, prefill));
  }
  // Completing the urgent prompts in this step, by the earliest of their deadlines, beats that
  // preference: the step grows to feed them whole (a prompt that did not fit would be split
  // over two steps and miss: slo_sim's chats arriving two in one step, where 3% more of the
  // budget fed both), or shrinks to end in time for them (a chat given up because the full
  // step would end just past its deadline, while its own rest took a third of it).
  double urgent_seconds = 0;
  if (budget > d) {
    const UrgentFit urgent = UrgentPrefill(decodes, tightest, usable, cap, budget - d, now);
    if (urgent.tokens > 0) {
      const int64_t most =
          std::max(urgent.tokens, model_->MaxPrefillTokens(decodes, urgent.limit, cap));
      budget = d + std::clamp(budget - d, urgent.tokens, most);
      urgent_seconds = urgent.seconds;
    }
  }
  // A tenant that stands ahead of another with prefill work (less service, or a peer with fewer
  // requests waiting) gets a step of its own prompts: its chat is not fed in a step that a noisy
  // tenant's document chunk makes long.
  if (const int64_t favored = FavoredPromptTokens(step_prefills_, budget - d); favored >= 0) {
    budget = std::min(budget, d + std::max<int64_t>(1, favored));
  }
  // What the finishing-time layout needs of this step.
  step_at_ = now;
  doomed_at_ = absl::InfinitePast();  // laid out again with this step's shape
  step_prefill_tokens_ = budget - d;
  StepShape step = decodes;
  step.prefill_tokens += step_prefill_tokens_;
  step.attended_tokens += StepShape::AttendedByChunk(0, step_prefill_tokens_);
  step_seconds_ = model_->Predict(step);
  // A budget under max_num_batched_tokens is a time limit in tokens (of one chunk from position
  // 0); the step keeps to that time whichever chunks it feeds.
  step_seconds_limit_ = budget < max_num_batched_tokens_ ? std::max(step_seconds_, urgent_seconds)
                                                         : std::numeric_limits<double>::infinity();
  return budget;
}

SloPolicy::UrgentFit SloPolicy::UrgentPrefill(const StepShape& decodes, double tightest,
                                              double usable, int64_t cap, int64_t preferred,
                                              absl::Time now) const {
  StepShape step = decodes;
  step.prefill_tokens += preferred;
  step.attended_tokens += StepShape::AttendedByChunk(0, preferred);
  const absl::Time horizon = now + 2 * absl::Seconds(model_->Predict(step));
  // The prompts with a target that can still meet it and cannot wait past the next step, in the
  // order this step feeds them (the tenants' standing, then deadline).
  urgent_.clear();
  const auto consider = [&](const Sequence& seq, absl::Time deadline) {
    if (deadline < horizon && seq.request->request.ttft_target.has_value() &&
        !YieldsToInteractive(seq, now) && !LostAlone(seq, now)) {
      urgent_.push_back({TenantStanding(seq), deadline, &seq});
    }
  };
  for (const Sequence* seq : step_prefills_) consider(*seq, Deadline(*seq));
  // From the deadlines still ahead: those behind are lost, however many a backlog holds.
  const auto& waiting = waiting_.by_deadline();
  size_t seen = 0;
  for (auto it = waiting.lower_bound({now, std::numeric_limits<int64_t>::min(), nullptr});
       it != waiting.end() && it->deadline < horizon && seen < kDoomWindow; ++it, ++seen) {
    consider(*it->seq, it->deadline);
  }
  std::sort(urgent_.begin(), urgent_.end(), [](const Urgent& a, const Urgent& b) {
    return std::tie(a.standing, a.deadline) < std::tie(b.standing, b.deadline);
  });
  // The longest run of them, in that order, whose step ends by each one's deadline and keeps the
  // decodes' TPOT targets; each prompt's rest attends to what it has computed already.
  UrgentFit fit;
  absl::Time earliest = absl::InfiniteFuture();
  step = decodes;
  for (const Urgent& u : urgent_) {
    const int64_t left = PromptLeft(*u.seq);
    step.prefill_tokens += left;
    step.attended_tokens += StepShape::AttendedByChunk(u.seq->num_computed, left);
    if (HasAdapter(*u.seq)) step.adapter_rows += left;
    earliest = std::min(earliest, u.deadline);
    if (step.prefill_tokens > cap) break;
    const double seconds = model_->Predict(step);
    const double limit = std::min(tightest, usable * Seconds(earliest - now));
    if (seconds > limit) break;
    fit = {step.prefill_tokens, seconds, limit};
  }
  return fit;
}

void SloPolicy::OrderRunning(absl::Span<Sequence* const> running, absl::Time now,
                             std::vector<Sequence*>* order) const {
  // Class first (as the priority policy); within a class decodes first (they carry the TPOT
  // targets), then prefills by deadline. One pass over `running` (it is per step, at hundreds of
  // sequences): interactive decodes go straight to `order`, the rest wait in scratch lists.
  order->clear();
  order_prefills_.clear();
  order_yielding_.clear();
  for (Sequence* seq : running) {
    if (YieldsToInteractive(*seq, now)) {
      order_yielding_.push_back(seq);
    } else if (seq->is_decode()) {
      order->push_back(seq);
    } else {
      order_prefills_.push_back(seq);
    }
  }
  // As admission ranks them: the tenant with the least service first (under fairness), then
  // those that can still meet their TTFT target (a lost one's deadline is the earliest).
  const auto by_deadline = [&](const Sequence* a, const Sequence* b) {
    return std::make_tuple(TenantStanding(*a), IsLostCause(*a, now), Deadline(*a)) <
           std::make_tuple(TenantStanding(*b), IsLostCause(*b, now), Deadline(*b));
  };
  std::stable_sort(order_prefills_.begin(), order_prefills_.end(), by_deadline);
  order->insert(order->end(), order_prefills_.begin(), order_prefills_.end());
  if (order_yielding_.empty()) return;
  order_prefills_.clear();
  for (Sequence* seq : order_yielding_) {
    if (seq->is_decode()) {
      order->push_back(seq);
    } else {
      order_prefills_.push_back(seq);
    }
  }
  std::stable_sort(order_prefills_.begin(), order_prefills_.end(), by_deadline);
  order->insert(order->end(), order_prefills_.begin(), order_prefills_.end());
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
  // Under fairness, a tenant's service decides first, as in admission (where it comes before
  // lost or not): a well-behaved tenant's request is not held up behind the chunks of a tenant
  // that had more.
  const Standing standing = TenantStanding(waiting), running_standing = TenantStanding(running);
  if (standing != running_standing) return standing < running_standing;
  if (IsLostCause(waiting, now)) return false;
  // A prefill that can no longer meet its target goes after every one that still can, even
  // when it is running (its deadline, being past or near, is earlier than theirs).
  return Deadline(waiting) < Deadline(running) || IsLostCause(running, now);
}

void SloPolicy::OnTokenGenerated(const Sequence& seq) {
  if (fairness_ == nullptr) return;
  const RequestState& r = *seq.request;
  if (r.tenant == nullptr) {  // not through the core: no stable tenant entry to count under
    Charge(r.request.tenant, [&] { return fairness_->ChargeOutput(r.request.tenant, 1); });
    return;
  }
  // A token per running sequence per step: counted here, charged by name once per tenant
  // (ChargePendingOutput) instead of a lookup by name per token. The tenants of a step are few,
  // so a scan of this step's entries (by pointer) beats hashing each token; past
  // kPendingScan tenants, the rest go through the map.
  for (size_t i = 0; i < pending_recent_.size(); ++i) {
    if (pending_recent_[i].first == r.tenant) {
      ++pending_recent_[i].second->tokens;
      return;
    }
  }
  PendingOutput& p = pending_output_[r.tenant];
  if (p.tokens == 0 && p.tenant.empty()) p.tenant = r.request.tenant;
  ++p.tokens;
  // Entries of a flat_hash_map move when it grows: only a map that has stopped growing this step
  // is pointed into (the scan is cleared whenever an insertion may have moved them).
  if (pending_output_.size() != pending_size_) {
    pending_size_ = pending_output_.size();
    pending_recent_.clear();
  } else if (pending_recent_.size() < kPendingScan) {
    pending_recent_.emplace_back(r.tenant, &p);
  }
}

void SloPolicy::ChargePendingOutput() const {
  for (auto& [stats, p] : pending_output_) {
    if (p.tokens == 0) continue;
    Charge(p.tenant, [&] { return fairness_->ChargeOutput(p.tenant, p.tokens); });
    p.tokens = 0;
  }
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
  for (const SloWaitingSet::Key& k : waiting_.by_deadline()) {
    if (k.deadline > deadline) break;
    if (batch || !YieldsToInteractive(*k.seq, now)) ahead += left(k.seq);
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
  absl::Duration wait = absl::Seconds(static_cast<double>(steps) * model_->Predict(step));
  // Its adapter, when not resident, is loaded before its prompt can run.
  if (request.adapter != nullptr && adapter_load_time_) {
    wait += adapter_load_time_(*request.adapter);
  }
  return wait;
}

}  // namespace tessera
