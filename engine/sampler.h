// Host sampler: the reference that GPU sampling is checked against, and the CUDA engine's sampler
// for what its GPU sampler does not cover yet.
//
// One sample, in this order:
//  1. logit processors (engine/logit_processors.h): repetition penalty, presence and frequency
//     penalties, logit bias, suppressed tokens;
//  2. temperature 0: the arg-max of the processed logits, lowest id on ties. Otherwise
//     probabilities are softmax(processed / temperature), computed as weights
//     w = exp((logit - max) / temperature) in double, and tokens are ranked by processed logit
//     (so by probability), ties to the lower id;
//  3. top-k: the k first of that ranking;
//  4. top-p: of those, the smallest prefix of the ranking whose mass (renormalized over the top-k)
//     is >= top_p; always at least one token;
//  5. min-p: of those, the tokens with w >= min_p * (the largest w);
//  6. an inverse-CDF draw over the kept tokens in ascending id order, in double, with target
//     CounterUniform(seed, sample_index) * (their total w).
// With nothing but temperature the kept set is the whole vocabulary and the draw is the GPU
// sampler's (engine/cuda/gpu_sampler.cuh). No step sorts the vocabulary: top-k keeps a small heap
// (nth_element for k > 1024), top-p ranks only the tokens of the power-of-two weight bucket where
// the mass crosses top_p, so a 128k vocabulary costs a few passes over it. Randomness is
// counter-based: the draw depends only on (seed, sample_index), so a seeded request produces the
// same tokens whatever else is batched with it.
//
// When step 1 leaves no token with a logit above -inf (e.g. every token not suppressed has a -inf
// or NaN logit), the result is the arg-max of the raw logits among the unsuppressed tokens; when
// every token is suppressed, the arg-max of all raw logits (StepPlan::Validate rejects such plans,
// so engines never meet this). Log-probabilities returned with a token are of the raw model
// distribution (LogSoftmax of the unprocessed logits), as with OpenAI and vLLM's default.
#ifndef TESSERA_ENGINE_SAMPLER_H_
#define TESSERA_ENGINE_SAMPLER_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "engine/logit_processors.h"
#include "engine/sampling_params.h"
#include "engine/step_plan.h"

namespace tessera {

// out[i] = logits[i] - logsumexp(logits), computed in double for the sum.
void LogSoftmax(absl::Span<const float> logits, std::vector<float>* out);

// The k largest entries of `logprobs`, by descending value; ties go to the lower token id.
std::vector<TokenLogprob> TopK(absl::Span<const float> logprobs, int32_t k);

// `chosen` with its log-probability and the top-k alternatives.
LogprobEntry MakeLogprobEntry(absl::Span<const float> logprobs, int32_t chosen, int32_t k);

// A uniform double in [0, 1) determined by (seed, index) alone.
double CounterUniform(uint64_t seed, uint64_t index);

// Buffers reused across calls, so sampling a 128k vocabulary allocates nothing once warm. One per
// thread; the contents between calls mean nothing (beyond `processors`' invariant).
struct SamplerScratch {
  std::vector<float> processed;
  std::vector<double> weights;
  std::vector<uint64_t> rank_words;
  LogitProcessorScratch processors;
};

// The history a StepSequence carries (views valid as long as `seq`'s).
SamplingHistory HistoryOf(const StepSequence& seq);

// Whether a sample of `seq` is greedy or a plain tempered draw over the whole vocabulary of raw
// logits: no logit processor and no top-k, top-p or min-p cut. That is what the GPU sampler does.
bool IsPlainSampling(const StepSequence& seq, int64_t vocab_size);

// The token for one sample, as described at the top of this file. `params` must pass
// ValidateSamplingParams.
int32_t SampleToken(absl::Span<const float> logits, const SamplingParams& params,
                    const SamplingHistory& history, int64_t sample_index, SamplerScratch* scratch);

// The same without history, with a scratch of its own (tests, one-off calls).
int32_t SampleToken(absl::Span<const float> logits, const SamplingParams& params,
                    int64_t sample_index);

}  // namespace tessera

#endif  // TESSERA_ENGINE_SAMPLER_H_
