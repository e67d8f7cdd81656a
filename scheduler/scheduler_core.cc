#include "scheduler/scheduler_core.h"

#include <algorithm>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "scheduler/plan_shape.h"

namespace tessera {

std::string_view FinishReasonName(FinishReason r) {
  switch (r) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kAbort:
      return "abort";
    case FinishReason::kLength:
      break;
  }
  return "length";
}

std::string_view PriorityName(Priority p) {
  return p == Priority::kBatch ? "batch" : "interactive";
}

SchedulerCore::SchedulerCore(Engine& engine, const Tokenizer* tokenizer, const Clock& clock,
                             SchedulerOptions options)
    : engine_(engine),
      tokenizer_(tokenizer),
      clock_(clock),
      options_(options),
      validator_(engine, tokenizer != nullptr, options),
      state_(options),
      capacity_(engine, state_, options, clock),
      outputs_(state_, capacity_, tokenizer, engine.config().eos_token_ids),
      batch_(state_, capacity_, outputs_, options, engine.config().vocab_size) {
  SchedulerStats& stats = state_.stats;
  stats.num_kv_blocks = capacity_.geometry().num_blocks;
  stats.block_size = capacity_.geometry().block_size;
  stats.max_loras = capacity_.adapters().slots().num_slots();
  stats.scheduling_policy = std::string(SchedulingPolicyName(options_.scheduling_policy));
  stats.fairness = std::string(FairnessName(options_.fairness));
  stats.step_time_coefficients = state_.step_model.Coefficients();
  state_.policy->SetAdapterLoadTime(
      [this](const AdapterRef& adapter) { return capacity_.PredictAdapterLoad(adapter); });
  stats.enable_prefix_caching = options.enable_prefix_caching;
}

SchedulerCore::~SchedulerCore() = default;

absl::Status SchedulerCore::Add(GenerateRequest request, std::shared_ptr<RequestSink> sink) {
  absl::StatusOr<ValidatedRequest> valid = validator_.Check(std::move(request));
  if (!valid.ok()) return valid.status();
  return Add(*std::move(valid), std::move(sink));
}

absl::Status SchedulerCore::Add(ValidatedRequest request, std::shared_ptr<RequestSink> sink) {
  if (state_.requests.contains(request->id)) {
    return absl::AlreadyExistsError(
        absl::StrCat("request \"", request->id, "\" is already in flight"));
  }
  SchedulerStats& stats = state_.stats;
  TenantStats& tenant = stats.tenants[request->tenant];
  ++tenant.requests_received;
  const int64_t prompt = static_cast<int64_t>(request->prompt_token_ids.size());
  if (state_.waiting_new_requests >= options_.max_waiting_requests ||
      state_.waiting_new_prompt_tokens + prompt > options_.max_waiting_prompt_tokens) {
    ++tenant.requests_rejected;
    ++stats.requests_rejected_total;
    return absl::ResourceExhaustedError(absl::StrCat(
        "the waiting queue is full (", state_.waiting_new_requests, " requests, ",
        state_.waiting_new_prompt_tokens, " prompt tokens; limits ", options_.max_waiting_requests,
        " and ", options_.max_waiting_prompt_tokens, ")"));
  }
  const absl::Time now = clock_.Now();
  if (request->reject_if_slo_unattainable && request->ttft_target.has_value()) {
    const absl::Time arrival = std::min(request->arrival.value_or(now), now);
    const std::optional<absl::Duration> wait =
        state_.policy->PredictTimeToFirstToken(*request, state_.running, now);
    if (wait.has_value() && (now - arrival) + *wait > *request->ttft_target) {
      ++tenant.requests_rejected;
      ++stats.requests_rejected_total;
      return absl::ResourceExhaustedError(absl::StrCat(
          "the time-to-first-token target of ", absl::FormatDuration(*request->ttft_target),
          " cannot be met: the predicted wait is ", absl::FormatDuration(*wait),
          " (reject_if_slo_unattainable)"));
    }
  }
  auto owned = std::make_unique<RequestState>();
  RequestState* r = owned.get();
  r->request = std::move(request).Release();
  r->sink = std::move(sink);
  r->tenant = &tenant;
  r->touched = &state_.touched;
  // Never later than now: an arrival stamped ahead of this clock would give negative latencies.
  r->arrival = std::min(r->request.arrival.value_or(now), now);
  if (r->request.timeout) {
    r->deadline = r->arrival + *r->request.timeout;
    deadlines_.emplace(*r->deadline, r->request.id);
  }
  // An unseeded request still needs one seed for its whole life (preemption included).
  if (r->request.seed.has_value()) {
    r->base_seed = *r->request.seed;
  } else if (r->request.sampling.temperature > 0) {
    absl::BitGen gen;
    r->base_seed = absl::Uniform<uint64_t>(gen);
  }
  if (r->request.prompt_logprobs > 0) r->prompt_logprobs.resize(prompt);
  // Samples fork after the prompt but its last token; a 1-token prompt has nothing to share.
  const int32_t initial = prompt > 1 ? 1 : r->request.n;
  for (int32_t i = 0; i < initial; ++i) {
    Sequence* seq = state_.NewSample(r, i, tokenizer_);
    seq->fork_pending = prompt > 1 && r->request.n > 1;
    state_.policy->Enqueue(seq, now);
  }
  r->unfinished = r->request.n;
  if (r->request.adapter != nullptr) ++state_.adapter_in_flight[r->request.adapter->name];
  ++state_.waiting_new_requests;
  state_.waiting_new_prompt_tokens += prompt;
  state_.requests.emplace(r->request.id, std::move(owned));
  RefreshGauges();
  return absl::OkStatus();
}

bool SchedulerCore::Cancel(const std::string& request_id) {
  auto it = state_.requests.find(request_id);
  if (it == state_.requests.end() || it->second->done) return false;
  if (!it->second->cancelled) cancelled_.push_back(request_id);
  it->second->cancelled = true;
  return true;
}

absl::StatusOr<StepReport> SchedulerCore::Step() {
  const absl::Time now = clock_.Now();
  ReapAborted(now);
  // Order: the policy sizes the budget, may let the waiting head preempt running sequences, and
  // orders the running ones.
  SchedulingPolicy& policy = *state_.policy;
  const int64_t budget = policy.TokenBudget(state_.running, now);
  capacity_.PreemptForWaiting(now, budget);
  policy.OrderRunning(state_.running, now, &order_);
  // Form, capacity decided per sequence.
  StepReport report;
  const int64_t preemptions_before = state_.stats.num_preemptions_total;
  batch_.Form(now, budget, order_);
  report.num_prefill_tokens = batch_.num_prefill_tokens();
  report.num_preempted =
      static_cast<int32_t>(state_.stats.num_preemptions_total - preemptions_before);
  if (batch_.scheduled().empty()) {
    FinishStep();
    return report;
  }
  // Run, then apply; the step-time model learns from every step.
  const StepShape shape = ShapeOf(batch_.plan());
  const double predicted = state_.step_model.Predict(shape);
  const absl::Time started = clock_.Now();
  absl::StatusOr<StepResult> result = engine_.Step(batch_.plan());
  if (!result.ok()) {
    capacity_.blocks().ClearCache();  // the step's blocks were offered, perhaps never written
    AbortAll(absl::InternalError(absl::StrCat("engine step failed: ", result.status().message())));
    return result.status();
  }
  RecordStepTime(shape, budget, predicted, absl::ToDoubleSeconds(clock_.Now() - started));
  ApplyResults(*result, &report);
  FinishStep();
  return report;
}

absl::Status SchedulerCore::Sleep(SleepLevel level) {
  if (!idle()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot sleep with ", state_.requests.size(), " requests in flight"));
  }
  capacity_.DropCaches();
  absl::Status s = engine_.Sleep(level);
  state_.stats.sleep_level = engine_.sleep_level();
  RefreshGauges();
  return s;
}

absl::Status SchedulerCore::WakeUp() {
  absl::Status s = engine_.WakeUp();
  state_.stats.sleep_level = engine_.sleep_level();
  return s;
}

void SchedulerCore::RecordStepTime(const StepShape& shape, int64_t budget, double predicted,
                                   double measured) {
  SchedulerStats& stats = state_.stats;
  stats.step_token_budget.Observe(static_cast<double>(budget));
  // A clock that went backwards: nothing to learn or record.
  if (!state_.step_model.Observe(shape, measured).ok()) return;
  stats.step_time_coefficients = state_.step_model.Coefficients();
  stats.step_time_margin = state_.step_model.error().Margin();
  stats.step_seconds.Observe(measured);
  stats.step_predicted_seconds.Observe(predicted);
  if (predicted > 0) stats.step_prediction_ratio.Observe(measured / predicted);
}

void SchedulerCore::ReapAborted(absl::Time now) {
  // The flags are checked again: an id may have finished (AbortAll) or been reused since.
  for (const std::string& id : cancelled_) {
    auto it = state_.requests.find(id);
    if (it == state_.requests.end() || it->second->done || !it->second->cancelled) continue;
    outputs_.FinishRequest(it->second.get(), absl::CancelledError("request cancelled"), now);
  }
  cancelled_.clear();
  while (!deadlines_.empty() && deadlines_.top().first <= now) {
    const std::string id = deadlines_.top().second;
    deadlines_.pop();
    auto it = state_.requests.find(id);
    if (it == state_.requests.end()) continue;
    RequestState* r = it->second.get();
    if (r->done || !r->deadline || now < *r->deadline) continue;
    outputs_.FinishRequest(
        r,
        absl::DeadlineExceededError(absl::StrCat("request \"", id, "\" ran past its timeout of ",
                                                 absl::FormatDuration(*r->request.timeout))),
        now);
  }
}

void SchedulerCore::ApplyResults(StepResult& result, StepReport* report) {
  const absl::Time done = clock_.Now();
  const std::vector<BatchFormer::Scheduled>& scheduled = batch_.scheduled();
  for (size_t i = 0; i < scheduled.size(); ++i) {
    outputs_.Apply(scheduled[i].seq, scheduled[i].fed, result.seqs[i], done);
  }
  SchedulerStats& stats = state_.stats;
  report->ran = true;
  report->num_seqs = static_cast<int32_t>(scheduled.size());
  report->num_tokens = batch_.plan().num_tokens();
  ++stats.num_steps_total;
  stats.last_step_tokens = report->num_tokens;
  stats.last_step_seqs = report->num_seqs;
  stats.tokens_per_step.Observe(report->num_tokens);
}

void SchedulerCore::FinishStep() {
  state_.policy->SettleCharges();
  outputs_.FlushUpdates();
  RefreshGauges();
}

void SchedulerCore::AbortAll(const absl::Status& status) {
  const absl::Time now = clock_.Now();
  for (auto& [id, r] : state_.requests) {
    if (!r->done) outputs_.FinishRequest(r.get(), status, now);
  }
  FinishStep();
}

absl::StatusOr<StepProfile> SchedulerCore::ProfileStepTime(StepProfileOptions options) {
  if (!idle()) {
    return absl::FailedPreconditionError(
        "the step-time profiling pass runs only while no request is in flight");
  }
  options.max_num_batched_tokens = options_.max_num_batched_tokens;
  options.max_num_seqs = options_.max_num_seqs;
  options.max_model_len = options_.max_model_len;
  absl::StatusOr<StepProfile> profile = ProfileSteps(engine_, capacity_.blocks(), clock_, options);
  RefreshGauges();  // the cache's usage, back where it was
  if (!profile.ok() || profile->samples.empty()) return profile;
  if (absl::Status s = state_.step_model.Seed(profile->samples); !s.ok()) return s;
  state_.stats.step_time_coefficients = state_.step_model.Coefficients();
  return profile;
}

void SchedulerCore::RefreshGauges() {
  // O(running sequences + tenants), not O(requests): a long waiting queue costs nothing here.
  // A request runs when any of its samples does; the rest of those in flight are waiting.
  SchedulerStats& stats = state_.stats;
  for (auto& [name, t] : stats.tenants) t.running = 0;
  stats.adapters.clear();
  for (const auto& [name, in_flight] : state_.adapter_in_flight) {
    stats.adapters[name].waiting = in_flight;
  }
  const int64_t epoch = ++gauge_epoch_;
  int32_t running = 0;
  for (Sequence* seq : state_.running) {
    RequestState* r = seq->request;
    if (r->gauge_epoch == epoch) continue;
    r->gauge_epoch = epoch;
    ++running;
    ++r->tenant->running;
    if (r->request.adapter != nullptr) {
      AdapterUse& use = stats.adapters[r->request.adapter->name];
      ++use.running;
      --use.waiting;
    }
  }
  const bool fair = options_.fairness == FairnessKind::kVtc;
  for (auto& [name, t] : stats.tenants) {
    const int64_t in_flight = t.requests_received - t.requests_rejected - t.requests_finished;
    t.waiting = static_cast<int32_t>(in_flight) - t.running;
    if (fair) t.fairness_counter = state_.fairness.Counter(name);
  }
  stats.num_requests_running = running;
  stats.num_requests_waiting = static_cast<int32_t>(state_.requests.size()) - running;
  stats.num_seqs_running = static_cast<int32_t>(state_.running.size());
  const AdapterPager& adapters = capacity_.adapters();
  stats.kv_usage = capacity_.blocks().Usage();
  stats.adapter_kv_blocks = adapters.held_blocks();
  stats.adapter_loads_total = adapters.num_loads();
  stats.adapter_prefetches_total = adapters.num_prefetches();
  stats.adapter_evictions_total = adapters.num_evictions();
}

}  // namespace tessera
