#include "scheduler/scheduler_core.h"

#include <algorithm>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "engine/sampling_params.h"
#include "engine/tokenizer/utf8.h"

namespace tessera {
namespace {

constexpr int32_t kMaxLogprobs = 20;

// A distinct, reproducible seed for sample `index` of a request seeded with `base`.
uint64_t SampleSeed(uint64_t base, int32_t index) {
  if (index == 0) return base;
  uint64_t z = base + 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(index);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

bool Contains(const std::vector<int32_t>& v, int32_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

double Seconds(absl::Duration d) { return absl::ToDoubleSeconds(d); }

// Whether `seq` gives way to interactive work: a batch request does until it has waited
// batch_max_wait since it arrived; after that it ranks as interactive (by age), or preemption by
// newer interactive requests could starve it.
bool YieldsToInteractive(const Sequence& seq, absl::Time now, absl::Duration batch_max_wait) {
  const RequestState& r = *seq.request;
  return r.request.priority == Priority::kBatch && now - r.arrival < batch_max_wait;
}

}  // namespace

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
      geometry_(engine.kv_geometry()),
      blocks_(geometry_.num_blocks, geometry_.block_size),
      eos_ids_(engine.config().eos_token_ids),
      waiting_(options.batch_max_wait),
      adapters_(engine, blocks_) {
  stats_.num_kv_blocks = geometry_.num_blocks;
  stats_.block_size = geometry_.block_size;
  stats_.max_loras = adapters_.slots().num_slots();
}

SchedulerCore::~SchedulerCore() = default;

absl::Status SchedulerCore::Validate(const GenerateRequest& r) const {
  const ModelConfig& c = engine_.config();
  auto fail = [&](auto&&... parts) {
    return absl::InvalidArgumentError(absl::StrCat("request \"", r.id, "\": ", parts...));
  };
  if (r.id.empty()) return absl::InvalidArgumentError("request id is empty");
  if (r.tenant.empty()) return fail("tenant is empty");
  const int64_t prompt = static_cast<int64_t>(r.prompt_token_ids.size());
  if (prompt == 0) return fail("the prompt is empty");
  for (int64_t i = 0; i < prompt; ++i) {
    const int32_t t = r.prompt_token_ids[i];
    if (t < 0 || t >= c.vocab_size) {
      return fail("token_ids[", i, "] = ", t, " is outside the vocabulary [0, ", c.vocab_size, ")");
    }
  }
  if (r.max_tokens < 1) return fail("max_tokens must be >= 1, got ", r.max_tokens);
  if (r.min_tokens < 0 || r.min_tokens > r.max_tokens) {
    return fail("min_tokens must be in [0, max_tokens = ", r.max_tokens, "], got ", r.min_tokens);
  }
  if (r.n < 1 || r.n > std::min(options_.max_n, options_.max_num_seqs)) {
    return fail("n must be in [1, ", std::min(options_.max_n, options_.max_num_seqs), "], got ",
                r.n);
  }
  if (options_.max_model_len > 0 && options_.max_model_len <= c.max_position_embeddings &&
      prompt + r.max_tokens > options_.max_model_len) {
    return fail("prompt (", prompt, " tokens) + max_tokens (", r.max_tokens,
                ") exceeds max-model-len (", options_.max_model_len, " tokens)");
  }
  if (prompt + r.max_tokens > c.max_position_embeddings) {
    return fail("prompt (", prompt, " tokens) + max_tokens (", r.max_tokens,
                ") exceeds the model's context of ", c.max_position_embeddings, " tokens");
  }
  // One sample alone must fit the whole cache, or it could never run.
  const int64_t blocks = blocks_.BlocksFor(prompt + r.max_tokens - 1);
  if (blocks > geometry_.num_blocks) {
    return fail("needs ", blocks, " KV blocks but the cache has ", geometry_.num_blocks,
                " in all; lower max_tokens or the prompt length");
  }
  if (absl::Status s = ValidateSamplingParams(r.sampling, c.vocab_size); !s.ok()) {
    return fail(s.message());
  }
  if (r.prompt_logprobs < 0 || r.prompt_logprobs > kMaxLogprobs) {
    return fail("prompt_logprobs must be in [0, ", kMaxLogprobs, "], got ", r.prompt_logprobs);
  }
  if (!r.stop.empty() && tokenizer_ == nullptr) {
    return fail("stop strings need a tokenizer, and this model has none");
  }
  if (static_cast<int32_t>(r.stop.size()) > options_.max_stop_strings) {
    return fail("at most ", options_.max_stop_strings, " stop strings, got ", r.stop.size());
  }
  for (size_t i = 0; i < r.stop.size(); ++i) {
    const std::string& s = r.stop[i];
    if (s.empty()) return fail("stop[", i, "] is empty");
    if (static_cast<int32_t>(s.size()) > options_.max_stop_string_bytes) {
      return fail("stop[", i, "] is longer than ", options_.max_stop_string_bytes, " bytes");
    }
    if (tokenizer::FirstInvalidUtf8(s) != std::string_view::npos) {
      return fail("stop[", i, "] is not valid UTF-8");
    }
  }
  for (size_t i = 0; i < r.stop_token_ids.size(); ++i) {
    const int32_t t = r.stop_token_ids[i];
    if (t < 0 || t >= c.vocab_size) {
      return fail("stop_token_ids[", i, "] = ", t, " is outside the vocabulary [0, ", c.vocab_size,
                  ")");
    }
  }
  if (r.adapter != nullptr) {
    if (adapters_.slots().num_slots() == 0) {
      return fail("adapter \"", r.adapter->name, "\": this engine serves no LoRA adapters");
    }
    if (r.adapter->weights == nullptr) {
      return fail("adapter \"", r.adapter->name, "\" has no weights");
    }
  }
  if (r.timeout && *r.timeout <= absl::ZeroDuration()) return fail("the timeout has passed");
  if ((r.ttft_target && *r.ttft_target <= absl::ZeroDuration()) ||
      (r.tpot_target && *r.tpot_target <= absl::ZeroDuration())) {
    return fail("latency targets must be positive");
  }
  return absl::OkStatus();
}

absl::Status SchedulerCore::Add(GenerateRequest request, std::shared_ptr<RequestSink> sink) {
  if (absl::Status s = Validate(request); !s.ok()) return s;
  if (requests_.contains(request.id)) {
    return absl::AlreadyExistsError(
        absl::StrCat("request \"", request.id, "\" is already in flight"));
  }
  TenantStats& tenant = stats_.tenants[request.tenant];
  ++tenant.requests_received;
  const int64_t prompt = static_cast<int64_t>(request.prompt_token_ids.size());
  if (waiting_new_requests_ >= options_.max_waiting_requests ||
      waiting_new_prompt_tokens_ + prompt > options_.max_waiting_prompt_tokens) {
    ++tenant.requests_rejected;
    ++stats_.requests_rejected_total;
    return absl::ResourceExhaustedError(absl::StrCat(
        "the waiting queue is full (", waiting_new_requests_, " requests, ",
        waiting_new_prompt_tokens_, " prompt tokens; limits ", options_.max_waiting_requests,
        " and ", options_.max_waiting_prompt_tokens, ")"));
  }
  const absl::Time now = clock_.Now();
  auto state = std::make_unique<RequestState>();
  RequestState* r = state.get();
  r->request = std::move(request);
  r->sink = std::move(sink);
  r->tenant = &tenant;
  r->touched = &touched_;
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
    auto seq = std::make_unique<Sequence>();
    seq->id = NewSeqId();
    seq->request = r;
    seq->index = i;
    seq->sampling = r->request.sampling;
    seq->sampling.seed = SampleSeed(r->base_seed, i);
    seq->fork_pending = prompt > 1 && r->request.n > 1;
    if (tokenizer_ != nullptr) {
      seq->text = std::make_unique<OutputText>(*tokenizer_, r->request.skip_special_tokens,
                                               r->request.prompt_token_ids, r->request.stop,
                                               r->request.include_stop_str_in_output);
    }
    waiting_.PushBack(seq.get(), now);
    r->seqs.push_back(std::move(seq));
  }
  r->unfinished = r->request.n;
  if (r->request.adapter != nullptr) ++adapter_in_flight_[r->request.adapter->name];
  ++waiting_new_requests_;
  waiting_new_prompt_tokens_ += prompt;
  requests_.emplace(r->request.id, std::move(state));
  RefreshGauges();
  return absl::OkStatus();
}

bool SchedulerCore::Cancel(const std::string& request_id) {
  auto it = requests_.find(request_id);
  if (it == requests_.end() || it->second->done) return false;
  if (!it->second->cancelled) cancelled_.push_back(request_id);
  it->second->cancelled = true;
  return true;
}

void SchedulerCore::ReapAborted(absl::Time now) {
  // The flags are checked again: an id may have finished (AbortAll) or been reused since.
  for (const std::string& id : cancelled_) {
    auto it = requests_.find(id);
    if (it == requests_.end() || it->second->done || !it->second->cancelled) continue;
    FinishRequest(it->second.get(), absl::CancelledError("request cancelled"), now);
  }
  cancelled_.clear();
  while (!deadlines_.empty() && deadlines_.top().first <= now) {
    const std::string id = deadlines_.top().second;
    deadlines_.pop();
    auto it = requests_.find(id);
    if (it == requests_.end()) continue;
    RequestState* r = it->second.get();
    if (r->done || !r->deadline || now < *r->deadline) continue;
    FinishRequest(
        r,
        absl::DeadlineExceededError(absl::StrCat("request \"", id, "\" ran past its timeout of ",
                                                 absl::FormatDuration(*r->request.timeout))),
        now);
  }
}

int64_t SchedulerCore::FittingChunk(const Sequence* seq, int64_t want) const {
  const auto& table = blocks_.BlockTable(seq->id);
  const int64_t bs = geometry_.block_size;
  int64_t usable = static_cast<int64_t>(table.size()) + blocks_.num_free_blocks();
  // A shared block about to be written needs a private copy first.
  const int64_t first = seq->num_computed / bs;
  if (first < static_cast<int64_t>(table.size()) && blocks_.RefCount(table[first]) > 1) --usable;
  return std::clamp<int64_t>(usable * bs - seq->num_computed, 0, want);
}

void SchedulerCore::Preempt(Sequence* seq, absl::Time now) {
  if (blocks_.Contains(seq->id)) (void)blocks_.Free(seq->id);
  seq->num_computed = 0;
  seq->state = Sequence::State::kWaiting;
  RemoveFromRunning(seq);
  // Its wait for aging counts from arrival: a batch request preempted right after aging must not
  // wait batch_max_wait all over again, behind interactive requests admitted meanwhile.
  waiting_.PushFront(seq, seq->request->arrival);
  ++seq->request->preemptions;
  ++stats_.num_preemptions_total;
  UnpinIfWaiting(seq->request);
}

void SchedulerCore::UnpinIfWaiting(RequestState* r) {
  // A request with nothing running lets go of its slot. Pinned, its adapter's blocks could be the
  // ones it (or the request ahead of it) waits for, and with a few such requests nothing would
  // ever run; and even an adapter kept outside the pool would hold a slot that the head of the
  // queue may need, stalling everything until the preempted request ages. The adapter stays
  // resident (idle), so a request resuming soon finds it without a load.
  if (r->adapter_slot < 0) return;
  for (const auto& seq : r->seqs) {
    if (seq->state == Sequence::State::kRunning) return;
  }
  adapters_.Unpin(r->adapter_slot);
  r->adapter_slot = -1;
}

void SchedulerCore::ReclaimAdapterBlocks(const Sequence* seq, int64_t tokens) {
  const int32_t need = blocks_.BlocksNeeded(seq->id, tokens, seq->num_computed);
  if (need <= blocks_.num_free_blocks()) return;
  const AdapterRef* own = seq->request->request.adapter.get();
  adapters_.Reclaim(need, own != nullptr ? own->weights.get() : nullptr);
}

int32_t SchedulerCore::FirstTokenBlocks(const Sequence* seq) const {
  return blocks_.BlocksNeeded(seq->id, seq->num_computed + 1, seq->num_computed);
}

bool SchedulerCore::AdapterHasRoom(const Sequence* seq) const {
  const RequestState* r = seq->request;
  const AdapterRef* adapter = r->request.adapter.get();
  if (adapter == nullptr || r->adapter_slot >= 0) return true;
  const absl::StatusOr<int32_t> need = adapters_.BlocksFor(*adapter);
  // An adapter the engine cannot store fails its request at admission; nothing to make room for.
  return !need.ok() || adapters_.HasRoom(*adapter, *need, FirstTokenBlocks(seq));
}

bool SchedulerCore::MakeRoom(Sequence* seq, int64_t tokens, const std::vector<Sequence*>& order,
                             size_t pos, absl::Time now) {
  while (!blocks_.CanAllocate(seq->id, tokens, seq->num_computed)) {
    // Idle adapters go before any sequence (a preempted one may have just made its adapter idle).
    ReclaimAdapterBlocks(seq, tokens);
    if (blocks_.CanAllocate(seq->id, tokens, seq->num_computed)) break;
    Sequence* victim = nullptr;
    for (size_t j = order.size(); j-- > pos + 1;) {
      if (order[j]->state == Sequence::State::kRunning) {
        victim = order[j];
        break;
      }
    }
    if (victim == nullptr) {
      Preempt(seq, now);
      return false;
    }
    Preempt(victim, now);
  }
  return true;
}

void SchedulerCore::PreemptForWaitingInteractive(absl::Time now) {
  Sequence* head = waiting_.Front(now);
  if (head == nullptr || head->request->request.priority != Priority::kInteractive) return;
  const int64_t want =
      std::min<int64_t>(head->FeedLimit() - head->num_computed, options_.max_num_batched_tokens);
  auto blocked = [&] {
    // Idle adapters' blocks go before any sequence (a preempted one may have made its adapter
    // idle).
    if (FittingChunk(head, want) < want) ReclaimAdapterBlocks(head, head->num_computed + want);
    return FittingChunk(head, want) == 0 ||
           static_cast<int32_t>(running_.size()) >= options_.max_num_seqs || !AdapterHasRoom(head);
  };
  while (blocked()) {
    Sequence* victim = nullptr;
    for (Sequence* s : running_) {
      if (YieldsToInteractive(*s, now, options_.batch_max_wait) &&
          (victim == nullptr || s->admit_order > victim->admit_order)) {
        victim = s;
      }
    }
    if (victim == nullptr) return;
    Preempt(victim, now);
  }
}

absl::Status SchedulerCore::Admit(Sequence* seq, absl::Time now) {
  RequestState* r = seq->request;
  seq->state = Sequence::State::kRunning;
  seq->admit_order = next_admit_order_++;
  running_.push_back(seq);
  if (!r->first_scheduled) {
    r->first_scheduled = now;
    stats_.queue_time_seconds.Observe(Seconds(now - r->arrival));
  }
  if (!r->started) {
    r->started = true;
    --waiting_new_requests_;
    waiting_new_prompt_tokens_ -= static_cast<int64_t>(r->request.prompt_token_ids.size());
  }
  return absl::OkStatus();
}

void SchedulerCore::AddToPlan(Sequence* seq, int64_t chunk, StepPlan* plan) {
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
      for (int64_t eos : eos_ids_) {
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
  seq->planned_step = stats_.num_steps_total;
  plan->AddSequence(tokens, blocks_.BlockTable(seq->id), geometry_.block_size, std::move(step));
}

absl::StatusOr<StepReport> SchedulerCore::Step() {
  const absl::Time now = clock_.Now();
  ReapAborted(now);
  PreemptForWaitingInteractive(now);

  StepReport report;
  const int64_t preemptions_before = stats_.num_preemptions_total;
  StepPlan& plan = plan_;
  plan.Clear();
  std::vector<BlockCopyPair> copies;
  std::vector<Scheduled>& scheduled = scheduled_;
  scheduled.clear();
  int64_t budget = options_.max_num_batched_tokens;
  int32_t seqs_left = options_.max_num_seqs;
  auto schedule = [&](Sequence* seq, int64_t chunk) {
    // Capacity was checked: this cannot fail.
    (void)blocks_.Allocate(seq->id, seq->num_computed + chunk, seq->num_computed, &copies);
    AddToPlan(seq, chunk, &plan);
    scheduled.push_back({seq, chunk});
    budget -= chunk;
    --seqs_left;
    if (!seq->is_decode()) report.num_prefill_tokens += static_cast<int32_t>(chunk);
  };

  // Running sequences in priority order: interactive (and aged batch) before batch, older first.
  // running_ is in admission order already, so a stable partition does it (no sort per step).
  std::vector<Sequence*>& order = order_;
  order.clear();
  for (bool yielding : {false, true}) {
    for (Sequence* seq : running_) {
      if (YieldsToInteractive(*seq, now, options_.batch_max_wait) == yielding) order.push_back(seq);
    }
  }
  for (size_t pos = 0; pos < order.size() && budget > 0 && seqs_left > 0; ++pos) {
    Sequence* seq = order[pos];
    if (seq->state != Sequence::State::kRunning) continue;  // preempted for an earlier one
    const int64_t want = seq->FeedLimit() - seq->num_computed;
    if (want <= 0) continue;
    int64_t chunk = std::min(want, budget);
    if (!blocks_.CanAllocate(seq->id, seq->num_computed + chunk, seq->num_computed)) {
      ReclaimAdapterBlocks(seq, seq->num_computed + chunk);
    }
    if (!blocks_.CanAllocate(seq->id, seq->num_computed + chunk, seq->num_computed)) {
      const int64_t fit = seq->is_decode() ? 0 : FittingChunk(seq, chunk);
      if (fit > 0) {
        chunk = fit;
      } else if (!MakeRoom(seq, seq->num_computed + chunk, order, pos, now)) {
        continue;
      }
    }
    schedule(seq, chunk);
  }
  // Admission, first come first served within the waiting queue's order; a head that does not
  // fit blocks those behind it, so big requests are not overtaken forever.
  while (budget > 0 && seqs_left > 0) {
    Sequence* seq = waiting_.Front(now);
    if (seq == nullptr) break;
    const int64_t want = std::min(seq->FeedLimit(), budget);
    int64_t chunk = FittingChunk(seq, want);
    if (chunk < want) {
      ReclaimAdapterBlocks(seq, seq->num_computed + want);
      chunk = FittingChunk(seq, want);
    }
    if (chunk == 0) break;
    // A head whose adapter has no slot (or no blocks) blocks the queue too: admitting others that
    // need slots could keep every slot busy forever, so the slots drain to it.
    const AdapterAdmission adapter = PrepareAdapter(seq, now);
    if (adapter == AdapterAdmission::kWait) break;
    if (adapter == AdapterAdmission::kFailed) continue;
    chunk = FittingChunk(seq, want);  // the adapter's blocks may have come from the free ones
    if (chunk == 0) break;            // cannot happen: the load left the first token's free
    waiting_.PopFront(now);
    (void)Admit(seq, now);
    schedule(seq, chunk);
  }
  report.num_preempted = static_cast<int32_t>(stats_.num_preemptions_total - preemptions_before);
  // Before the copy sources are freed: an adapter's load must not overwrite a block this step's
  // plan still copies from.
  PrefetchAdapters();
  blocks_.ReleaseCopySources();  // the plan holds this step's copies

  if (scheduled.empty()) {
    FlushUpdates();
    RefreshGauges();
    return report;
  }
  for (const auto& [src, dst] : copies) plan.block_copies.push_back({src, dst});
  absl::StatusOr<StepResult> result = engine_.Step(plan);
  if (!result.ok()) {
    AbortAll(absl::InternalError(absl::StrCat("engine step failed: ", result.status().message())));
    return result.status();
  }
  const absl::Time done = clock_.Now();
  for (size_t i = 0; i < scheduled.size(); ++i) {
    ApplyOutput(scheduled[i].seq, scheduled[i].fed, result->seqs[i], done);
  }
  report.ran = true;
  report.num_seqs = static_cast<int32_t>(scheduled.size());
  report.num_tokens = plan.num_tokens();
  ++stats_.num_steps_total;
  stats_.last_step_tokens = report.num_tokens;
  stats_.last_step_seqs = report.num_seqs;
  stats_.tokens_per_step.Observe(report.num_tokens);
  FlushUpdates();
  RefreshGauges();
  return report;
}

void SchedulerCore::ApplyOutput(Sequence* seq, int64_t fed, SequenceOutput& out, absl::Time now) {
  RequestState* r = seq->request;
  if (r->done) return;  // another sample of the request ended it earlier in this step
  if (out.logits_non_finite) {
    // Tokens sampled from NaN or infinite logits are garbage: end the request (all its samples)
    // with an error that names what overflowed, leaving this output out of its stream. The other
    // sequences of the step are independent rows and go on.
    const AdapterRef* adapter = r->request.adapter.get();
    FinishRequest(
        r,
        absl::InternalError(absl::StrCat(
            "non-finite logits in step (NaN or infinity) for request \"", r->request.id, "\"",
            adapter != nullptr ? absl::StrCat(" with adapter \"", adapter->name, "\"")
                               : std::string(" on the base model"))),
        now);
    return;
  }
  const int64_t prompt = seq->prompt_len();
  const int64_t start = seq->num_computed;
  for (size_t j = 0; j < out.prompt_logprobs.size(); ++j) {
    const int64_t target = start + static_cast<int64_t>(j) + 1;
    if (out.prompt_logprobs[j] && target >= r->prompt_lp_next && target < prompt) {
      r->prompt_logprobs[target] = std::move(out.prompt_logprobs[j]);
    }
  }
  seq->num_computed += fed;
  const int64_t prompt_done = std::min(seq->num_computed, prompt);
  if (prompt_done > r->prompt_computed) {
    const int64_t fresh = prompt_done - r->prompt_computed;
    stats_.prompt_tokens_total += fresh;
    r->tenant->prompt_tokens += fresh;
    r->prompt_computed = prompt_done;
  }
  if (r->request.prompt_logprobs > 0) {
    r->prompt_lp_next = std::max(r->prompt_lp_next, std::min(seq->num_computed + 1, prompt));
    if (!r->prompt_logprobs_sent && seq->num_computed >= prompt - 1) {
      r->Update().prompt_logprobs = r->prompt_logprobs;
      r->prompt_logprobs_sent = true;
    }
  }
  if (seq->fork_pending && seq->num_computed == seq->FeedLimit()) ForkSamples(seq, now);
  if (out.sampled_token >= 0) {
    AppendToken(seq, out.sampled_token, std::move(out.sample_logprobs), now);
  }
}

void SchedulerCore::ForkSamples(Sequence* parent, absl::Time now) {
  (void)now;
  RequestState* r = parent->request;
  parent->fork_pending = false;
  for (int32_t i = 1; i < r->request.n; ++i) {
    auto child = std::make_unique<Sequence>();
    child->id = NewSeqId();
    child->request = r;
    child->index = i;
    child->sampling = parent->sampling;
    child->sampling.seed = SampleSeed(r->base_seed, i);
    child->state = Sequence::State::kRunning;
    child->num_computed = parent->num_computed;
    child->admit_order = next_admit_order_++;
    if (tokenizer_ != nullptr) {
      child->text = std::make_unique<OutputText>(*tokenizer_, r->request.skip_special_tokens,
                                                 r->request.prompt_token_ids, r->request.stop,
                                                 r->request.include_stop_str_in_output);
    }
    (void)blocks_.Fork(parent->id, child->id);
    running_.push_back(child.get());
    r->seqs.push_back(std::move(child));
  }
}

void SchedulerCore::AppendToken(Sequence* seq, int32_t token, std::optional<LogprobEntry> logprob,
                                absl::Time now) {
  RequestState* r = seq->request;
  const GenerateRequest& req = r->request;
  seq->output.push_back(token);
  SampleDelta& delta = r->Delta(seq->index);
  delta.token_ids.push_back(token);
  if (logprob) {
    delta.logprobs.push_back(*logprob);
    seq->logprobs.push_back(*std::move(logprob));
  }
  if (!r->first_token) {
    r->first_token = now;
    const absl::Duration ttft = now - r->arrival;
    r->Update().time_to_first_token = ttft;
    stats_.time_to_first_token_seconds.Observe(Seconds(ttft));
  }
  if (seq->last_token_time) {
    const absl::Duration itl = now - *seq->last_token_time;
    r->Update().inter_token_latencies.push_back(itl);
    stats_.inter_token_latency_seconds.Observe(Seconds(itl));
  }
  seq->last_token_time = now;
  ++r->generated;
  ++stats_.generation_tokens_total;
  ++r->tenant->generation_tokens;

  const int64_t n_out = static_cast<int64_t>(seq->output.size());
  const bool checks_on = n_out >= req.min_tokens;
  const bool stop_token =
      checks_on &&
      (Contains(req.stop_token_ids, token) ||
       (!req.ignore_eos && std::find(eos_ids_.begin(), eos_ids_.end(), token) != eos_ids_.end()));
  if (stop_token) {
    delta.stop_token_id = token;
    FinishSequence(seq, FinishReason::kStop, now);
    return;
  }
  if (seq->text) {
    // A token the tokenizer does not know (a model vocabulary padded past it) adds no text.
    absl::StatusOr<OutputText::Piece> piece = seq->text->Append(token, checks_on);
    if (piece.ok()) {
      delta.text += piece->text;
      if (piece->stop_hit) {
        delta.stop_string = *piece->stop_hit;
        seq->text.reset();  // the text ended at the stop string: nothing more to release
        FinishSequence(seq, FinishReason::kStop, now);
        return;
      }
    }
  }
  if (n_out >= req.max_tokens) FinishSequence(seq, FinishReason::kLength, now);
}

void SchedulerCore::FinishSequence(Sequence* seq, FinishReason reason, absl::Time now) {
  RequestState* r = seq->request;
  SampleDelta& delta = r->Delta(seq->index);
  if (seq->text) {
    if (absl::StatusOr<std::string> rest = seq->text->Finish(); rest.ok()) delta.text += *rest;
    seq->text.reset();
  }
  delta.finish = reason;
  seq->finish = reason;
  if (blocks_.Contains(seq->id)) (void)blocks_.Free(seq->id);
  if (seq->state == Sequence::State::kRunning) {
    RemoveFromRunning(seq);
  } else if (seq->state == Sequence::State::kWaiting) {
    waiting_.Remove(seq);
  }
  seq->state = Sequence::State::kFinished;
  if (--r->unfinished == 0 && !r->done) {
    FinishRequest(r, absl::OkStatus(), now);
  } else {
    UnpinIfWaiting(r);  // the samples left may all be waiting (preempted)
  }
}

SchedulerCore::AdapterAdmission SchedulerCore::PrepareAdapter(Sequence* seq, absl::Time now) {
  RequestState* r = seq->request;
  const AdapterRef* adapter = r->request.adapter.get();
  if (adapter == nullptr || r->adapter_slot >= 0) return AdapterAdmission::kReady;
  if (!adapters_.slots().CanAcquire(*adapter)) return AdapterAdmission::kWait;
  auto fail = [&](auto&&... parts) {
    FinishRequest(
        r,
        absl::InvalidArgumentError(absl::StrCat("request \"", r->request.id, "\": adapter \"",
                                                adapter->name, "\" ", parts...)),
        now);
    return AdapterAdmission::kFailed;
  };
  const absl::StatusOr<int32_t> need = adapters_.BlocksFor(*adapter);
  if (!need.ok()) return fail("cannot be stored by the engine: ", need.status().message());
  // Validate checked the request alone against the cache; with its adapter it must fit too, or
  // it would wait (or preempt itself) forever.
  const int64_t own = blocks_.BlocksFor(static_cast<int64_t>(r->request.prompt_token_ids.size()) +
                                        r->request.max_tokens - 1);
  if (own + *need > geometry_.num_blocks) {
    return fail("takes ", *need, " KV blocks and the request ", own, " more, but the cache has ",
                geometry_.num_blocks, " in all");
  }
  const AdapterPager::Pinned pinned = adapters_.Pin(*adapter, *need, FirstTokenBlocks(seq));
  switch (pinned.outcome) {
    case AdapterPager::Outcome::kPinned:
      r->adapter_slot = pinned.slot;
      return AdapterAdmission::kReady;
    case AdapterPager::Outcome::kFailed:
      return fail("cannot be loaded by the engine: ", pinned.error.message());
    case AdapterPager::Outcome::kNoSlot:
    case AdapterPager::Outcome::kNoRoom:
      break;
  }
  return AdapterAdmission::kWait;
}

void SchedulerCore::PrefetchAdapters() {
  if (options_.adapter_prefetch_depth <= 0 || waiting_.empty() || !adapters_.HasEmptySlot()) {
    return;
  }
  // Only blocks that stay free whatever the next step does: it adds at most a token budget of KV,
  // plus a partly filled block and a copy-on-write copy per sequence. A prefetched adapter is idle,
  // so a step that needs its blocks after all evicts it rather than preempt anything.
  const int64_t next_seqs = std::min<int64_t>(
      options_.max_num_seqs, static_cast<int64_t>(running_.size() + waiting_.size()));
  const int64_t reserve = blocks_.BlocksFor(options_.max_num_batched_tokens) + 2 * next_seqs;
  if (reserve >= blocks_.num_free_blocks()) return;
  std::vector<const LoraWeights*> tried;
  waiting_.ForEach([&](const Sequence* seq) {
    const RequestState* r = seq->request;
    const AdapterRef* adapter = r->request.adapter.get();
    if (adapter == nullptr || r->adapter_slot >= 0 || adapters_.IsResident(*adapter) ||
        std::find(tried.begin(), tried.end(), adapter->weights.get()) != tried.end()) {
      return true;
    }
    tried.push_back(adapter->weights.get());
    adapters_.Prefetch(*adapter, static_cast<int32_t>(reserve));
    return static_cast<int32_t>(tried.size()) < options_.adapter_prefetch_depth &&
           adapters_.HasEmptySlot();
  });
}

void SchedulerCore::FinishRequest(RequestState* r, const absl::Status& status, absl::Time now) {
  r->done = true;
  if (r->adapter_slot >= 0) {
    adapters_.Unpin(r->adapter_slot);
    r->adapter_slot = -1;
  }
  if (r->request.adapter != nullptr) {
    auto it = adapter_in_flight_.find(r->request.adapter->name);
    if (it != adapter_in_flight_.end() && --it->second <= 0) adapter_in_flight_.erase(it);
  }
  for (auto& seq : r->seqs) {
    if (seq->state != Sequence::State::kFinished)
      FinishSequence(seq.get(), FinishReason::kAbort, now);
  }
  // The first sample's reason names the request; every sample's is in its deltas.
  const FinishReason reason =
      status.ok() ? r->seqs.front()->finish.value_or(FinishReason::kAbort) : FinishReason::kAbort;
  if (!r->started) {
    --waiting_new_requests_;
    waiting_new_prompt_tokens_ -= static_cast<int64_t>(r->request.prompt_token_ids.size());
    r->started = true;
  }
  RequestUpdate& u = r->Update();
  u.finished = true;
  u.status = status;
  RequestTimings t;
  t.queue_time = (r->first_scheduled ? *r->first_scheduled : now) - r->arrival;
  if (r->first_token) t.time_to_first_token = *r->first_token - r->arrival;
  t.e2e_latency = now - r->arrival;
  t.prompt_tokens = static_cast<int64_t>(r->request.prompt_token_ids.size());
  t.generated_tokens = r->generated;
  t.preemptions = r->preemptions;
  if (r->request.ttft_target) {
    t.met_ttft_target = t.time_to_first_token && *t.time_to_first_token <= *r->request.ttft_target;
    ++(t.met_ttft_target ? stats_.ttft_target_met : stats_.ttft_target_missed);
  }
  if (r->request.tpot_target && r->first_token) {
    const int64_t per_sample = r->generated / std::max(1, r->request.n);
    const absl::Duration tpot =
        per_sample > 1 ? (now - *r->first_token) / (per_sample - 1) : absl::ZeroDuration();
    t.met_tpot_target = tpot <= *r->request.tpot_target;
    ++(t.met_tpot_target ? stats_.tpot_target_met : stats_.tpot_target_missed);
  }
  u.timings = t;
  stats_.e2e_request_latency_seconds.Observe(Seconds(t.e2e_latency));
  ++stats_.requests_finished[std::string(FinishReasonName(reason))];
  ++r->tenant->requests_finished;
}

void SchedulerCore::RemoveFromRunning(Sequence* seq) {
  auto it = std::find(running_.begin(), running_.end(), seq);
  if (it != running_.end()) running_.erase(it);
}

void SchedulerCore::FlushUpdates() {
  // Only the requests with news (every finished one has its final update): not all in flight.
  for (RequestState* r : touched_) {
    r->sink->Push(*std::move(r->update));
    r->update.reset();
  }
  for (RequestState* r : touched_) {
    if (r->done) requests_.erase(requests_.find(r->request.id));
  }
  touched_.clear();
}

void SchedulerCore::AbortAll(const absl::Status& status) {
  const absl::Time now = clock_.Now();
  for (auto& [id, r] : requests_) {
    if (!r->done) FinishRequest(r.get(), status, now);
  }
  FlushUpdates();
  RefreshGauges();
}

void SchedulerCore::RefreshGauges() {
  // O(running sequences + tenants), not O(requests): a long waiting queue costs nothing here.
  // A request runs when any of its samples does; the rest of those in flight are waiting.
  for (auto& [name, t] : stats_.tenants) t.running = 0;
  stats_.adapters.clear();
  for (const auto& [name, in_flight] : adapter_in_flight_)
    stats_.adapters[name].waiting = in_flight;
  const int64_t epoch = ++gauge_epoch_;
  int32_t running = 0;
  for (Sequence* seq : running_) {
    RequestState* r = seq->request;
    if (r->gauge_epoch == epoch) continue;
    r->gauge_epoch = epoch;
    ++running;
    ++r->tenant->running;
    if (r->request.adapter != nullptr) {
      AdapterUse& use = stats_.adapters[r->request.adapter->name];
      ++use.running;
      --use.waiting;
    }
  }
  for (auto& [name, t] : stats_.tenants) {
    const int64_t in_flight = t.requests_received - t.requests_rejected - t.requests_finished;
    t.waiting = static_cast<int32_t>(in_flight) - t.running;
  }
  stats_.num_requests_running = running;
  stats_.num_requests_waiting = static_cast<int32_t>(requests_.size()) - running;
  stats_.num_seqs_running = static_cast<int32_t>(running_.size());
  stats_.kv_usage = blocks_.Usage();
  stats_.adapter_kv_blocks = adapters_.held_blocks();
  stats_.adapter_loads_total = adapters_.num_loads();
  stats_.adapter_prefetches_total = adapters_.num_prefetches();
  stats_.adapter_evictions_total = adapters_.num_evictions();
}

}  // namespace tessera
