// Per-request sampling parameters as the engine sees them, and their validation.
//
// Every field's default leaves sampling unchanged ("off"), so a default-constructed SamplingParams
// is greedy decoding. The host sampler (engine/sampler.h) documents the order in which the fields
// act; the ranges follow OpenAI's and vLLM's.
#ifndef TESSERA_ENGINE_SAMPLING_PARAMS_H_
#define TESSERA_ENGINE_SAMPLING_PARAMS_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace tessera {

struct SamplingParams {
  float temperature = 0.0f;  // 0 = greedy
  // Picks the random draws together with the sample index. The scheduler sets it per sample from
  // the request's seed (GenerateRequest::seed), or from one it draws for an unseeded request.
  uint64_t seed = 0;
  // Top-k log-probabilities returned with each sampled token (0 = none). Log-probabilities are of
  // the model's distribution (log-softmax of the raw logits), before any processing below.
  int32_t num_logprobs = 0;

  int32_t top_k = 0;   // keep the k most likely tokens; 0 (or >= vocabulary) = off
  float top_p = 1.0f;  // nucleus: smallest set with probability mass >= top_p; 1 = off
  float min_p = 0.0f;  // drop tokens less likely than min_p * the most likely one's; 0 = off
  // Divides positive logits and multiplies negative ones of tokens seen in the prompt or output.
  float repetition_penalty = 1.0f;  // 1 = off
  // Subtracted from the logit of every token that occurs in the output (presence), and once per
  // occurrence (frequency).
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  // Added to the logits of the listed tokens. Sorted by token id, each id at most once: requests
  // bias few tokens, so a sorted vector beats a map.
  std::vector<std::pair<int32_t, float>> logit_bias;
};

// The most log-probabilities a sampled token may carry (OpenAI's and vLLM's limit).
inline constexpr int32_t kMaxSampleLogprobs = 20;
// Largest magnitude of a logit bias (OpenAI's limit).
inline constexpr float kMaxLogitBias = 100.0f;

// InvalidArgument naming the first field out of range and its allowed range: temperature finite
// and >= 0; top_k >= 0; top_p in (0, 1]; min_p in [0, 1]; repetition_penalty finite and > 0;
// presence_penalty and frequency_penalty in [-2, 2]; logit_bias ids in [0, vocab_size), strictly
// increasing, values in [-100, 100]; num_logprobs in [0, 20].
absl::Status ValidateSamplingParams(const SamplingParams& params, int64_t vocab_size);

// Whether the params read the sequence's history (repetition, presence or frequency penalty).
bool UsesTokenHistory(const SamplingParams& params);

}  // namespace tessera

#endif  // TESSERA_ENGINE_SAMPLING_PARAMS_H_
