#include "server/request_convert.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace tessera {
namespace {

absl::Status Invalid(auto&&... parts) { return absl::InvalidArgumentError(absl::StrCat(parts...)); }

}  // namespace

absl::StatusOr<GenerateRequest> ToSchedulerRequest(const v1::GenerateRequest& in,
                                                   const Tokenizer* tokenizer,
                                                   const RequestLimits& limits,
                                                   const GenerationDefaults& defaults) {
  const size_t bytes = in.ByteSizeLong();
  if (static_cast<int64_t>(bytes) > limits.max_request_bytes) {
    return Invalid("the request is ", bytes, " bytes, over the limit of ", limits.max_request_bytes,
                   " (text: ", in.text().size(), " bytes, token_ids: ", in.token_ids_size(),
                   " ids)");
  }
  if (in.request_id().size() > 256) return Invalid("request_id is longer than 256 bytes");
  GenerateRequest r;
  const bool has_text = !in.text().empty();
  if (has_text && in.token_ids_size() > 0) {
    return Invalid("text and token_ids are both set: send one prompt");
  }
  if (!has_text && in.token_ids_size() == 0) {
    return Invalid("the prompt is empty: set text or token_ids");
  }
  const bool add_special = in.has_add_special_tokens() ? in.add_special_tokens() : true;
  if (has_text) {
    if (tokenizer == nullptr) {
      return Invalid("text needs the model's tokenizer, and this model has none: send token_ids");
    }
    absl::StatusOr<std::vector<int32_t>> ids = tokenizer->Encode(in.text(), add_special);
    if (!ids.ok()) return Invalid("text: ", ids.status().message());
    if (ids->empty()) return Invalid("text encodes to no tokens");
    r.prompt_token_ids = *std::move(ids);
  } else {
    r.prompt_token_ids.assign(in.token_ids().begin(), in.token_ids().end());
  }
  switch (in.priority()) {
    case v1::PRIORITY_UNSPECIFIED:
    case v1::PRIORITY_INTERACTIVE:
      r.priority = Priority::kInteractive;
      break;
    case v1::PRIORITY_BATCH:
      r.priority = Priority::kBatch;
      break;
    default:
      return Invalid("priority ", static_cast<int>(in.priority()), " is not a known Priority");
  }
  r.max_tokens = in.has_max_tokens() ? in.max_tokens() : defaults.max_tokens;
  r.min_tokens = in.min_tokens();
  r.n = in.has_n() ? in.n() : 1;

  SamplingParams& s = r.sampling;
  s.temperature = in.has_temperature() ? in.temperature() : defaults.temperature;
  if (in.has_top_k() && in.top_k() < -1) {
    return Invalid("top_k must be a positive integer, or 0 or -1 for off; got ", in.top_k());
  }
  // -1 is vLLM's "off"; the engine's is 0.
  s.top_k = in.has_top_k() ? std::max(in.top_k(), 0) : defaults.top_k;
  s.top_p = in.has_top_p() ? in.top_p() : defaults.top_p;
  s.min_p = in.has_min_p() ? in.min_p() : defaults.min_p;
  s.repetition_penalty =
      in.has_repetition_penalty() ? in.repetition_penalty() : defaults.repetition_penalty;
  s.presence_penalty = in.presence_penalty();
  s.frequency_penalty = in.frequency_penalty();
  s.num_logprobs = in.logprobs();
  if (in.has_seed()) r.seed = in.seed();  // unset: the scheduler draws one for the request
  s.logit_bias.assign(in.logit_bias().begin(), in.logit_bias().end());
  std::sort(s.logit_bias.begin(), s.logit_bias.end());
  r.prompt_logprobs = in.prompt_logprobs();

  r.stop.assign(in.stop().begin(), in.stop().end());
  r.include_stop_str_in_output = in.include_stop_str_in_output();
  r.stop_token_ids.assign(in.stop_token_ids().begin(), in.stop_token_ids().end());
  r.ignore_eos = in.ignore_eos();
  r.cache_salt = in.cache_salt();
  r.skip_special_tokens = in.has_skip_special_tokens() ? in.skip_special_tokens() : true;
  if (in.ttft_target_ms() > 0) r.ttft_target = absl::Milliseconds(in.ttft_target_ms());
  if (in.tpot_target_ms() > 0) r.tpot_target = absl::Milliseconds(in.tpot_target_ms());
  r.reject_if_slo_unattainable = in.reject_if_slo_unattainable();
  return r;
}

}  // namespace tessera
