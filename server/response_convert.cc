#include "server/response_convert.h"

#include "absl/time/time.h"

namespace tessera {
namespace {

void FillToken(const TokenLogprob& in, const Tokenizer* tokenizer, v1::TokenLogprob* out) {
  out->set_token_id(in.token_id);
  out->set_logprob(in.logprob);
  if (tokenizer != nullptr) {
    absl::StatusOr<std::string> text = tokenizer->Decode({&in.token_id, 1}, false);
    if (text.ok()) out->set_token(*std::move(text));
  }
}

void FillPosition(const LogprobEntry& in, const Tokenizer* tokenizer, v1::PositionLogprobs* out) {
  FillToken(in.chosen, tokenizer, out->mutable_chosen());
  for (const TokenLogprob& t : in.top) FillToken(t, tokenizer, out->add_top());
}

v1::FinishReason ToProto(FinishReason r) {
  switch (r) {
    case FinishReason::kLength:
      return v1::FINISH_REASON_LENGTH;
    case FinishReason::kStop:
      return v1::FINISH_REASON_STOP;
    case FinishReason::kAbort:
      break;  // the call ends with an error status instead
  }
  return v1::FINISH_REASON_UNSPECIFIED;
}

}  // namespace

void ToGenerateResponse(const RequestUpdate& update, const std::string& client_request_id,
                        const Tokenizer* tokenizer, v1::GenerateResponse* out) {
  out->set_request_id(client_request_id);
  for (const SampleDelta& d : update.samples) {
    v1::SampleDelta* s = out->add_samples();
    s->set_index(d.index);
    s->mutable_token_ids()->Add(d.token_ids.begin(), d.token_ids.end());
    s->set_text(d.text);
    for (const LogprobEntry& e : d.logprobs) FillPosition(e, tokenizer, s->add_logprobs());
    if (d.finish.has_value()) s->set_finish_reason(ToProto(*d.finish));
    if (!d.stop_string.empty()) s->set_stop_string(d.stop_string);
    if (d.stop_token_id >= 0) s->set_stop_token_id(d.stop_token_id);
  }
  for (const std::optional<LogprobEntry>& e : update.prompt_logprobs) {
    v1::PositionLogprobs* p = out->add_prompt_logprobs();
    if (e.has_value()) FillPosition(*e, tokenizer, p);
  }
  if (update.finished && update.timings.has_value()) {
    const RequestTimings& t = *update.timings;
    v1::Usage* u = out->mutable_usage();
    u->set_prompt_tokens(static_cast<int32_t>(t.prompt_tokens));
    u->set_completion_tokens(static_cast<int32_t>(t.generated_tokens));
    u->set_queue_seconds(absl::ToDoubleSeconds(t.queue_time));
    if (t.time_to_first_token.has_value()) {
      u->set_time_to_first_token_seconds(absl::ToDoubleSeconds(*t.time_to_first_token));
    }
    u->set_e2e_seconds(absl::ToDoubleSeconds(t.e2e_latency));
    u->set_preemptions(t.preemptions);
    u->set_cached_prompt_tokens(static_cast<int32_t>(t.cached_prompt_tokens));
  }
}

}  // namespace tessera
