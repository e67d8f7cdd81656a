#include "scheduler/batch_former.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace tessera {

BatchFormer::BatchFormer(SchedulerState& state, Capacity& capacity, OutputApplier& outputs,
                         const SchedulerOptions& options, int64_t vocab_size)
    : state_(state),
      capacity_(capacity),
      outputs_(outputs),
      max_num_seqs_(options.max_num_seqs),
      vocab_size_(vocab_size) {}

void BatchFormer::Form(absl::Time now, int64_t budget, absl::Span<Sequence* const> order) {
  plan_.Clear();
  copies_.clear();
  scheduled_.clear();
  num_prefill_tokens_ = 0;
  shape_ = StepShape();
  seconds_limit_ = state_.policy->StepSecondsLimit();
  Room room{budget, max_num_seqs_};
  // A policy may rank waiting requests ahead of running prefills (an urgent short prompt before
  // the rest of a long one): decodes, those admissions, the prefills, then the other admissions.
  const Sequence* first_prefill = nullptr;
  for (const Sequence* seq : order) {
    if (seq->state == Sequence::State::kRunning && !seq->is_decode()) {
      first_prefill = seq;
      break;
    }
  }
  if (first_prefill != nullptr && state_.policy->AdmitsAheadOfRunningPrefills()) {
    ScheduleRunning(now, order, &room, Pass::kDecodes);
    AdmitWaiting(now, &room, first_prefill);
    ScheduleRunning(now, order, &room, Pass::kPrefills);
  } else {
    ScheduleRunning(now, order, &room, Pass::kAll);
  }
  AdmitWaiting(now, &room);
  // Before the copy sources are freed: an adapter's load must not overwrite a block this step's
  // plan still copies from.
  capacity_.PrefetchAdapters();
  capacity_.blocks().ReleaseCopySources();  // the plan holds this step's copies
  for (const auto& [src, dst] : copies_) plan_.block_copies.push_back({src, dst});
}

void BatchFormer::ScheduleRunning(absl::Time now, absl::Span<Sequence* const> order, Room* room,
                                  Pass pass) {
  for (size_t pos = 0; pos < order.size() && room->open(); ++pos) {
    Sequence* seq = order[pos];
    if (seq->state != Sequence::State::kRunning) continue;  // preempted for an earlier one
    if (seq->planned_step == state_.stats.num_steps_total) continue;  // in this plan already
    if ((pass == Pass::kDecodes && !seq->is_decode()) ||
        (pass == Pass::kPrefills && seq->is_decode())) {
      continue;
    }
    const int64_t want = seq->FeedLimit() - seq->num_computed;
    if (want <= 0) continue;
    int64_t chunk = WithinTime(*seq, std::min(want, room->tokens));
    if (chunk == 0) continue;
    const int64_t tokens = seq->num_computed + chunk;
    if (!capacity_.CanAllocate(*seq, tokens)) capacity_.ReclaimAdapterBlocks(*seq, tokens);
    if (!capacity_.CanAllocate(*seq, tokens)) {
      const int64_t fit = seq->is_decode() ? 0 : capacity_.FittingChunk(*seq, chunk);
      if (fit > 0) {
        chunk = fit;
      } else if (!capacity_.MakeRoom(seq, tokens, Unplanned(order.subspan(pos + 1)), now)) {
        continue;
      }
    }
    Schedule(seq, chunk, room);
  }
}

absl::Span<Sequence* const> BatchFormer::Unplanned(absl::Span<Sequence* const> later) {
  // Sequences this step's plan holds already (an earlier pass scheduled them) are not victims:
  // their blocks are in the plan.
  victims_.clear();
  for (Sequence* s : later) {
    if (s->planned_step != state_.stats.num_steps_total) victims_.push_back(s);
  }
  return victims_;
}

void BatchFormer::AdmitWaiting(absl::Time now, Room* room, const Sequence* before) {
  // In the policy's order; a head that does not fit blocks those behind it, so big requests are
  // not overtaken forever.
  SchedulingPolicy& policy = *state_.policy;
  while (room->open()) {
    Sequence* seq = policy.Next(now);
    if (seq == nullptr) break;
    if (before != nullptr && !policy.RanksAhead(*seq, *before, now)) break;
    if (!policy.MayAdmit(*seq, state_.running.size())) break;
    // Cached blocks are taken first, so that making room below cannot evict them; given back if
    // the sequence waits on.
    const int64_t hit = capacity_.TakeCachedPrefix(seq);
    const int64_t want =
        WithinTime(*seq, std::min(seq->FeedLimit() - seq->num_computed, room->tokens));
    if (want == 0) {  // the head's first chunk does not fit in the step's time: it waits
      capacity_.ReturnCachedPrefix(seq);
      break;
    }
    int64_t chunk = capacity_.FittingChunk(*seq, want);
    if (chunk < want) {
      capacity_.ReclaimAdapterBlocks(*seq, seq->num_computed + want);
      chunk = capacity_.FittingChunk(*seq, want);
    }
    if (chunk == 0) {
      capacity_.ReturnCachedPrefix(seq);
      break;
    }
    // A head whose adapter has no slot (or no blocks) blocks the queue too: admitting others that
    // need slots could keep every slot busy forever, so the slots drain to it.
    const Capacity::AdapterAdmission adapter = capacity_.PrepareAdapter(*seq);
    if (adapter.outcome == Capacity::AdapterAdmission::Outcome::kWait) {
      capacity_.ReturnCachedPrefix(seq);
      break;
    }
    if (adapter.outcome == Capacity::AdapterAdmission::Outcome::kFailed) {
      outputs_.FinishRequest(seq->request, adapter.error, now);
      continue;
    }
    chunk = capacity_.FittingChunk(*seq, want);  // the adapter's blocks may have come from these
    if (chunk == 0) {  // cannot happen: the load left the first token's free
      capacity_.ReturnCachedPrefix(seq);
      break;
    }
    policy.PopNext(now);
    capacity_.RecordPrefixLookup(*seq, hit);
    Admit(seq, now);
    Schedule(seq, chunk, room);
  }
}

void BatchFormer::Admit(Sequence* seq, absl::Time now) {
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

int64_t BatchFormer::WithinTime(const Sequence& seq, int64_t chunk) const {
  if (seq.is_decode() || !std::isfinite(seconds_limit_)) return chunk;
  const int64_t fit = state_.step_model.MaxPrefillTokens(
      shape_, seconds_limit_, chunk, seq.num_computed,
      seq.request->adapter_slot >= 0 || seq.request->request.adapter != nullptr);
  // The step's first prefill token always fits: prompts must progress, and the policy's budget
  // left room for at least one.
  if (num_prefill_tokens_ == 0) return std::max<int64_t>(std::min<int64_t>(chunk, 1), fit);
  return std::max<int64_t>(0, fit);
}

void BatchFormer::Schedule(Sequence* seq, int64_t chunk, Room* room) {
  capacity_.Allocate(*seq, seq->num_computed + chunk, &copies_);
  capacity_.OfferBlocks(seq, seq->num_computed + chunk);
  AddToPlan(seq, chunk);
  scheduled_.push_back({seq, chunk});
  room->tokens -= chunk;
  --room->seqs;
  if (!seq->is_decode()) num_prefill_tokens_ += static_cast<int32_t>(chunk);
  // As ShapeOf counts the plan (a one-token chunk is a decode), so that WithinTime predicts
  // what the step's measurement will be compared with.
  const int64_t cached = seq->num_computed;
  if (chunk == 1) {
    ++shape_.decode_sequences;
  } else {
    shape_.prefill_tokens += chunk;
  }
  shape_.attended_tokens += StepShape::AttendedByChunk(cached, chunk);
  if (seq->request->adapter_slot >= 0) shape_.adapter_rows += chunk;
}

void BatchFormer::AddToPlan(Sequence* seq, int64_t chunk) {
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
        if (eos >= 0 && eos < vocab_size_) {
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

}  // namespace tessera
