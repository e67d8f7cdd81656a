// Logit processors of the host sampler: the steps that rewrite a sequence's logits before any
// token is chosen (penalties from its history, logit bias, banned tokens). engine/sampler.h runs
// them; they are apart so that tests can check the rewritten logits exactly.
#ifndef TESSERA_ENGINE_LOGIT_PROCESSORS_H_
#define TESSERA_ENGINE_LOGIT_PROCESSORS_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "engine/sampling_params.h"

namespace tessera {

// What a sequence has seen and what it may not pick. Non-owning views.
struct SamplingHistory {
  absl::Span<const int32_t> prompt_token_ids;
  absl::Span<const int32_t> output_token_ids;
  absl::Span<const int32_t> suppressed_token_ids;
};

// Per-token counters reused across calls, so a penalty costs O(history), not O(vocabulary).
// Invariant between calls: every entry is zero.
struct LogitProcessorScratch {
  std::vector<uint8_t> seen;
  std::vector<int32_t> counts;
};

// Whether ApplyLogitProcessors would change anything.
bool HasLogitProcessors(const SamplingParams& params, const SamplingHistory& history);

// Rewrites `logits` in place, in this order (vLLM's formulas):
//  1. repetition penalty p, once per distinct token seen in the prompt or the output:
//     logit > 0 ? logit / p : logit * p;
//  2. presence and frequency penalties, over the output only: logit -= f * count + pp * (count >
//  0);
//  3. logit bias: logit += bias;
//  4. suppressed tokens: logit = -inf.
// Ids outside [0, logits.size()) are skipped (StepPlan::Validate rejects them before an engine
// gets here; skipping keeps a careless caller from writing out of bounds).
void ApplyLogitProcessors(const SamplingParams& params, const SamplingHistory& history,
                          absl::Span<float> logits, LogitProcessorScratch* scratch);

}  // namespace tessera

#endif  // TESSERA_ENGINE_LOGIT_PROCESSORS_H_
