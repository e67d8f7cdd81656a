#include "engine/sampling_params.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace tessera {
namespace {

absl::Status OutOfRange(absl::string_view field, absl::string_view range, double got) {
  return absl::InvalidArgumentError(absl::StrCat(field, " must be ", range, ", got ", got));
}

}  // namespace

absl::Status ValidateSamplingParams(const SamplingParams& p, int64_t vocab_size) {
  // Comparisons are written so that NaN fails them.
  if (!(p.temperature >= 0.0f) || !std::isfinite(p.temperature)) {
    return OutOfRange("temperature", "finite and >= 0", p.temperature);
  }
  if (p.top_k < 0) return OutOfRange("top_k", ">= 0 (0 = off; the APIs also take -1)", p.top_k);
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) return OutOfRange("top_p", "in (0, 1]", p.top_p);
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f)) return OutOfRange("min_p", "in [0, 1]", p.min_p);
  if (!(p.repetition_penalty > 0.0f) || !std::isfinite(p.repetition_penalty)) {
    return OutOfRange("repetition_penalty", "finite and > 0 (1 = off)", p.repetition_penalty);
  }
  if (!(p.presence_penalty >= -2.0f && p.presence_penalty <= 2.0f)) {
    return OutOfRange("presence_penalty", "in [-2, 2]", p.presence_penalty);
  }
  if (!(p.frequency_penalty >= -2.0f && p.frequency_penalty <= 2.0f)) {
    return OutOfRange("frequency_penalty", "in [-2, 2]", p.frequency_penalty);
  }
  for (size_t i = 0; i < p.logit_bias.size(); ++i) {
    const auto [id, bias] = p.logit_bias[i];
    if (id < 0 || id >= vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("logit_bias token id must be in [0, ", vocab_size, "), got ", id));
    }
    if (i > 0 && id <= p.logit_bias[i - 1].first) {
      return absl::InvalidArgumentError(
          absl::StrCat("logit_bias must be sorted by token id with each id once; token ", id,
                       " follows ", p.logit_bias[i - 1].first));
    }
    if (!(bias >= -kMaxLogitBias && bias <= kMaxLogitBias)) {
      return absl::InvalidArgumentError(
          absl::StrCat("logit_bias of token ", id, " must be in [-100, 100], got ", bias));
    }
  }
  if (p.num_logprobs < 0 || p.num_logprobs > kMaxSampleLogprobs) {
    // Named as every API spells it (the gRPC field, the JSON Lines key, OpenAI's and vLLM's).
    return OutOfRange("logprobs", "in [0, 20]", p.num_logprobs);
  }
  return absl::OkStatus();
}

bool UsesTokenHistory(const SamplingParams& p) {
  return p.repetition_penalty != 1.0f || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f;
}

}  // namespace tessera
