#include "scheduler/scheduler_core.h"

#include <algorithm>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"

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
      capacity_(engine, state_, options),
      outputs_(state_, capacity_, tokenizer, engine.config().eos_token_ids) {
  SchedulerStats& stats = state_.stats;
  stats.num_kv_blocks = capacity_.geometry().num_blocks;
  stats.block_size = capacity_.geometry().block_size;
  stats.max_loras = capacity_.adapters().slots().num_slots();
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
  StepReport report;
  FormBatch(now, budget, &report);
  if (scheduled_.empty()) {
    FinishStep();
    return report;
  }
  absl::StatusOr<StepResult> result = engine_.Step(plan_);
  if (!result.ok()) {
    AbortAll(absl::InternalError(absl::StrCat("engine step failed: ", result.status().message())));
    return result.status();
  }
  ApplyResults(*result, &report);
  FinishStep();
  return report;
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

void SchedulerCore::FormBatch(absl::Time now, int64_t budget, StepReport* report) {
  const int64_t preemptions_before = state_.stats.num_preemptions_total;
  plan_.Clear();
  copies_.clear();
  scheduled_.clear();
  Room room{budget, options_.max_num_seqs};
  ScheduleRunning(now, &room, report);
  AdmitWaiting(now, &room, report);
  report->num_preempted =
      static_cast<int32_t>(state_.stats.num_preemptions_total - preemptions_before);
  // Before the copy sources are freed: an adapter's load must not overwrite a block this step's
  // plan still copies from.
  capacity_.PrefetchAdapters();
  capacity_.blocks().ReleaseCopySources();  // the plan holds this step's copies
  for (const auto& [src, dst] : copies_) plan_.block_copies.push_back({src, dst});
}

void SchedulerCore::ScheduleRunning(absl::Time now, Room* room, StepReport* report) {
  for (size_t pos = 0; pos < order_.size() && room->open(); ++pos) {
    Sequence* seq = order_[pos];
    if (seq->state != Sequence::State::kRunning) continue;  // preempted for an earlier one
    const int64_t want = seq->FeedLimit() - seq->num_computed;
    if (want <= 0) continue;
    int64_t chunk = std::min(want, room->tokens);
    const int64_t tokens = seq->num_computed + chunk;
    if (!capacity_.CanAllocate(*seq, tokens)) capacity_.ReclaimAdapterBlocks(*seq, tokens);
    if (!capacity_.CanAllocate(*seq, tokens)) {
      const int64_t fit = seq->is_decode() ? 0 : capacity_.FittingChunk(*seq, chunk);
      if (fit > 0) {
        chunk = fit;
      } else if (!capacity_.MakeRoom(seq, tokens, absl::MakeConstSpan(order_).subspan(pos + 1),
                                     now)) {
        continue;
      }
    }
    Schedule(seq, chunk, room, report);
  }
}

void SchedulerCore::AdmitWaiting(absl::Time now, Room* room, StepReport* report) {
  // In the policy's order; a head that does not fit blocks those behind it, so big requests are
  // not overtaken forever.
  SchedulingPolicy& policy = *state_.policy;
  while (room->open()) {
    Sequence* seq = policy.Next(now);
    if (seq == nullptr) break;
    const int64_t want = std::min(seq->FeedLimit(), room->tokens);
    int64_t chunk = capacity_.FittingChunk(*seq, want);
    if (chunk < want) {
      capacity_.ReclaimAdapterBlocks(*seq, seq->num_computed + want);
      chunk = capacity_.FittingChunk(*seq, want);
    }
    if (chunk == 0) break;
    // A head whose adapter has no slot (or no blocks) blocks the queue too: admitting others that
    // need slots could keep every slot busy forever, so the slots drain to it.
    const Capacity::AdapterAdmission adapter = capacity_.PrepareAdapter(*seq);
    if (adapter.outcome == Capacity::AdapterAdmission::Outcome::kWait) break;
    if (adapter.outcome == Capacity::AdapterAdmission::Outcome::kFailed) {
      outputs_.FinishRequest(seq->request, adapter.error, now);
      continue;
    }
    chunk = capacity_.FittingChunk(*seq, want);  // the adapter's blocks may have come from these
    if (chunk == 0) break;  // cannot happen: the load left the first token's free
    policy.PopNext(now);
    Admit(seq, now);
    Schedule(seq, chunk, room, report);
  }
}

void SchedulerCore::Admit(Sequence* seq, absl::Time now) {
  RequestState* r = seq->request;
  seq->state = Sequence::State::kRunning;
  seq->admit_order = state_.next_admit_order++;
  state_.running.push_back(seq);
  if (!r->first_scheduled) {
    r->first_scheduled = now;
    state_.stats.queue_time_seconds.Observe(absl::ToDoubleSeconds(now - r->arrival));
  }
  if (!r->started) {
    r->started = true;
    --state_.waiting_new_requests;
    state_.waiting_new_prompt_tokens -= static_cast<int64_t>(r->request.prompt_token_ids.size());
  }
}

void SchedulerCore::Schedule(Sequence* seq, int64_t chunk, Room* room, StepReport* report) {
  capacity_.Allocate(*seq, seq->num_computed + chunk, &copies_);
  AddToPlan(seq, chunk);
  scheduled_.push_back({seq, chunk});
  room->tokens -= chunk;
  --room->seqs;
  if (!seq->is_decode()) report->num_prefill_tokens += static_cast<int32_t>(chunk);
}

void SchedulerCore::AddToPlan(Sequence* seq, int64_t chunk) {
  const RequestState& r = *seq->request;
  const int64_t start = seq->num_computed;
  const int64_t end = start + chunk;
  std::vector<int32_t>& tokens = feed_;
  tokens.resize(chunk);
  for (int64_t i = 0; i < chunk; ++i) tokens[i] = seq->TokenAt(start + i);
  StepSequence step;
  step.num_cached_tokens = start;
  step.sample = !seq->fork_pending && end == seq->total_len();
  step.sampling = seq->sampling;
  step.sample_index = static_cast<int64_t>(seq->output.size());
  // Views for the penalties: both vectors stay untouched until the step returns.
  step.prompt_token_ids = r.request.prompt_token_ids;
  step.output_token_ids = seq->output;
  // min_tokens: the tokens that would stop the sample cannot be drawn until it has enough.
  if (step.sample && static_cast<int64_t>(seq->output.size()) < r.request.min_tokens) {
    step.suppressed_token_ids = r.request.stop_token_ids;
    if (!r.request.ignore_eos) {
      for (int64_t eos : outputs_.eos_ids()) {
        if (eos >= 0 && eos < engine_.config().vocab_size) {
          step.suppressed_token_ids.push_back(static_cast<int32_t>(eos));
        }
      }
    }
  }
  const int64_t prompt = seq->prompt_len();
  if (r.request.prompt_logprobs > 0 && end >= r.prompt_lp_next && start + 1 < prompt) {
    step.prompt_top_k = r.request.prompt_logprobs;
    step.prompt_targets.resize(chunk, -1);
    for (int64_t i = 0; i < chunk; ++i) {
      const int64_t target = start + i + 1;
      if (target >= r.prompt_lp_next && target < prompt) {
        step.prompt_targets[i] = r.request.prompt_token_ids[target];
      }
    }
  }
  step.adapter_slot = r.adapter_slot;
  seq->planned_step = state_.stats.num_steps_total;
  plan_.AddSequence(tokens, capacity_.blocks().BlockTable(seq->id), capacity_.geometry().block_size,
                    std::move(step));
}

void SchedulerCore::ApplyResults(StepResult& result, StepReport* report) {
  const absl::Time done = clock_.Now();
  for (size_t i = 0; i < scheduled_.size(); ++i) {
    outputs_.Apply(scheduled_[i].seq, scheduled_[i].fed, result.seqs[i], done);
  }
  SchedulerStats& stats = state_.stats;
  report->ran = true;
  report->num_seqs = static_cast<int32_t>(scheduled_.size());
  report->num_tokens = plan_.num_tokens();
  ++stats.num_steps_total;
  stats.last_step_tokens = report->num_tokens;
  stats.last_step_seqs = report->num_seqs;
  stats.tokens_per_step.Observe(report->num_tokens);
}

void SchedulerCore::FinishStep() {
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
  for (auto& [name, t] : stats.tenants) {
    const int64_t in_flight = t.requests_received - t.requests_rejected - t.requests_finished;
    t.waiting = static_cast<int32_t>(in_flight) - t.running;
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
