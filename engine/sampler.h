// Host sampler: the reference that GPU sampling is checked against.
//
// Randomness is counter-based: the draw for a request depends only on (seed, sample_index), so a
// seeded request produces the same tokens whatever else is batched with it.
#ifndef TESSERA_ENGINE_SAMPLER_H_
#define TESSERA_ENGINE_SAMPLER_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
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

// Greedy (temperature 0: the arg-max, lowest id on ties) or a draw from softmax(logits / T).
int32_t SampleToken(absl::Span<const float> logits, const SamplingParams& params,
                    int64_t sample_index);

}  // namespace tessera

#endif  // TESSERA_ENGINE_SAMPLER_H_
