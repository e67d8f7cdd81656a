#include "engine/logit_processors.h"

#include <limits>

namespace tessera {

bool HasLogitProcessors(const SamplingParams& params, const SamplingHistory& history) {
  return UsesTokenHistory(params) || !params.logit_bias.empty() ||
         !history.suppressed_token_ids.empty();
}

void ApplyLogitProcessors(const SamplingParams& p, const SamplingHistory& h,
                          absl::Span<float> logits, LogitProcessorScratch* scratch) {
  const int64_t vocab = static_cast<int64_t>(logits.size());
  auto in_vocab = [vocab](int32_t t) { return t >= 0 && t < vocab; };

  if (p.repetition_penalty != 1.0f) {
    std::vector<uint8_t>& seen = scratch->seen;
    if (static_cast<int64_t>(seen.size()) < vocab) seen.resize(vocab, 0);
    auto penalize = [&](absl::Span<const int32_t> ids) {
      for (int32_t t : ids) {
        if (!in_vocab(t) || seen[t] != 0) continue;
        seen[t] = 1;
        float& x = logits[t];
        x = x > 0.0f ? x / p.repetition_penalty : x * p.repetition_penalty;
      }
    };
    penalize(h.prompt_token_ids);
    penalize(h.output_token_ids);
    for (int32_t t : h.prompt_token_ids) {
      if (in_vocab(t)) seen[t] = 0;
    }
    for (int32_t t : h.output_token_ids) {
      if (in_vocab(t)) seen[t] = 0;
    }
  }

  if (p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f) {
    std::vector<int32_t>& counts = scratch->counts;
    if (static_cast<int64_t>(counts.size()) < vocab) counts.resize(vocab, 0);
    for (int32_t t : h.output_token_ids) {
      if (in_vocab(t)) ++counts[t];
    }
    // The first occurrence of each token applies its penalty and clears its count, so a token is
    // penalized once and the counters are zero again afterwards.
    for (int32_t t : h.output_token_ids) {
      if (!in_vocab(t) || counts[t] == 0) continue;
      logits[t] -= p.frequency_penalty * static_cast<float>(counts[t]) + p.presence_penalty;
      counts[t] = 0;
    }
  }

  for (const auto& [t, bias] : p.logit_bias) {
    if (in_vocab(t)) logits[t] += bias;
  }
  for (int32_t t : h.suppressed_token_ids) {
    if (in_vocab(t)) logits[t] = -std::numeric_limits<float>::infinity();
  }
}

}  // namespace tessera
