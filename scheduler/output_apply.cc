#include "scheduler/output_apply.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tessera {
namespace {

bool Contains(const std::vector<int32_t>& v, int32_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

double Seconds(absl::Duration d) { return absl::ToDoubleSeconds(d); }

}  // namespace

OutputApplier::OutputApplier(SchedulerState& state, Capacity& capacity, const Tokenizer* tokenizer,
                             std::vector<int64_t> eos_ids)
    : state_(state), capacity_(capacity), tokenizer_(tokenizer), eos_ids_(std::move(eos_ids)) {}

void OutputApplier::Apply(Sequence* seq, int64_t fed, SequenceOutput& out, absl::Time now) {
  RequestState* r = seq->request;
  if (r->done) return;  // another sample of the request ended it earlier in this step
  if (out.logits_non_finite) {
    // Tokens sampled from NaN or infinite logits are garbage: end the request (all its samples)
    // with an error that names what overflowed, leaving this output out of its stream. The other
    // sequences of the step are independent rows and go on.
    const AdapterRef* adapter = r->request.adapter.get();
    capacity_.ForgetBlocks(*seq);
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
    state_.stats.prompt_tokens_total += fresh;
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
  if (seq->fork_pending && seq->num_computed == seq->FeedLimit()) ForkSamples(seq);
  if (out.sampled_token >= 0) {
    AppendToken(seq, out.sampled_token, std::move(out.sample_logprobs), now);
  }
}

void OutputApplier::ForkSamples(Sequence* parent) {
  RequestState* r = parent->request;
  parent->fork_pending = false;
  for (int32_t i = 1; i < r->request.n; ++i) {
    Sequence* child = state_.NewSample(r, i, tokenizer_);
    child->state = Sequence::State::kRunning;
    child->num_computed = parent->num_computed;
    child->block_hashes = parent->block_hashes;
    child->num_offered_blocks = parent->num_offered_blocks;
    child->admit_order = state_.next_admit_order++;
    capacity_.Fork(*parent, *child);
    state_.running.push_back(child);
  }
}

void OutputApplier::AppendToken(Sequence* seq, int32_t token, std::optional<LogprobEntry> logprob,
                                absl::Time now) {
  RequestState* r = seq->request;
  const GenerateRequest& req = r->request;
  SchedulerStats& stats = state_.stats;
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
    stats.time_to_first_token_seconds.Observe(Seconds(ttft));
  }
  if (seq->last_token_time) {
    const absl::Duration itl = now - *seq->last_token_time;
    r->Update().inter_token_latencies.push_back(itl);
    stats.inter_token_latency_seconds.Observe(Seconds(itl));
  }
  seq->last_token_time = now;
  ++r->generated;
  state_.policy->OnTokenGenerated(*seq);
  ++stats.generation_tokens_total;
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

void OutputApplier::FinishSequence(Sequence* seq, FinishReason reason, absl::Time now) {
  RequestState* r = seq->request;
  SampleDelta& delta = r->Delta(seq->index);
  if (seq->text) {
    if (absl::StatusOr<std::string> rest = seq->text->Finish(); rest.ok()) delta.text += *rest;
    seq->text.reset();
  }
  delta.finish = reason;
  seq->finish = reason;
  capacity_.Free(*seq);
  if (seq->state == Sequence::State::kRunning) {
    state_.RemoveFromRunning(seq);
  } else if (seq->state == Sequence::State::kWaiting) {
    state_.policy->Remove(seq);
  }
  seq->state = Sequence::State::kFinished;
  if (--r->unfinished == 0 && !r->done) {
    FinishRequest(r, absl::OkStatus(), now);
  } else {
    capacity_.UnpinIfWaiting(*r);  // the samples left may all be waiting (preempted)
  }
}

void OutputApplier::FinishRequest(RequestState* r, const absl::Status& status, absl::Time now) {
  SchedulerStats& stats = state_.stats;
  r->done = true;
  capacity_.Unpin(*r);
  if (r->request.adapter != nullptr) {
    auto it = state_.adapter_in_flight.find(r->request.adapter->name);
    if (it != state_.adapter_in_flight.end() && --it->second <= 0) {
      state_.adapter_in_flight.erase(it);
    }
  }
  for (auto& seq : r->seqs) {
    if (seq->state != Sequence::State::kFinished) {
      FinishSequence(seq.get(), FinishReason::kAbort, now);
    }
  }
  // The first sample's reason names the request; every sample's is in its deltas.
  const FinishReason reason =
      status.ok() ? r->seqs.front()->finish.value_or(FinishReason::kAbort) : FinishReason::kAbort;
  if (!r->started) {
    --state_.waiting_new_requests;
    state_.waiting_new_prompt_tokens -= static_cast<int64_t>(r->request.prompt_token_ids.size());
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
  t.cached_prompt_tokens = r->cached_prompt_tokens;
  t.preemptions = r->preemptions;
  TenantStats& tenant = *r->tenant;
  const bool has_ttft = r->request.ttft_target.has_value();
  const bool has_tpot = r->request.tpot_target.has_value() && r->first_token.has_value();
  if (has_ttft) {
    t.met_ttft_target = t.time_to_first_token && *t.time_to_first_token <= *r->request.ttft_target;
    ++(t.met_ttft_target ? stats.ttft_target_met : stats.ttft_target_missed);
    ++(t.met_ttft_target ? tenant.ttft_target_met : tenant.ttft_target_missed);
  }
  if (has_tpot) {
    const int64_t per_sample = r->generated / std::max(1, r->request.n);
    const absl::Duration tpot =
        per_sample > 1 ? (now - *r->first_token) / (per_sample - 1) : absl::ZeroDuration();
    t.met_tpot_target = tpot <= *r->request.tpot_target;
    ++(t.met_tpot_target ? stats.tpot_target_met : stats.tpot_target_missed);
    ++(t.met_tpot_target ? tenant.tpot_target_met : tenant.tpot_target_missed);
  }
  if (has_ttft || has_tpot) {
    // Unset targets stay true in RequestTimings.
    const bool both = t.met_ttft_target && t.met_tpot_target;
    ++(both ? tenant.both_targets_met : tenant.both_targets_missed);
  }
  u.timings = t;
  stats.e2e_request_latency_seconds.Observe(Seconds(t.e2e_latency));
  ++stats.requests_finished[std::string(FinishReasonName(reason))];
  ++r->tenant->requests_finished;
}

void OutputApplier::FlushUpdates() {
  // Only the requests with news (every finished one has its final update): not all in flight.
  for (RequestState* r : state_.touched) {
    r->sink->Push(*std::move(r->update));
    r->update.reset();
  }
  for (RequestState* r : state_.touched) {
    if (r->done) state_.requests.erase(state_.requests.find(r->request.id));
  }
  state_.touched.clear();
}

}  // namespace tessera
