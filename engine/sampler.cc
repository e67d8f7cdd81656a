#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/counter_rng.h"

namespace tessera {

void LogSoftmax(absl::Span<const float> logits, std::vector<float>* out) {
  out->resize(logits.size());
  float max = -std::numeric_limits<float>::infinity();
  for (float v : logits) max = std::max(max, v);
  double sum = 0;
  for (float v : logits) sum += std::exp(static_cast<double>(v) - max);
  const double lse = max + std::log(sum);
  for (size_t i = 0; i < logits.size(); ++i) {
    (*out)[i] = static_cast<float>(static_cast<double>(logits[i]) - lse);
  }
}

std::vector<TokenLogprob> TopK(absl::Span<const float> logprobs, int32_t k) {
  k = std::clamp<int32_t>(k, 0, static_cast<int32_t>(logprobs.size()));
  std::vector<int32_t> ids(logprobs.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
  auto better = [&](int32_t a, int32_t b) {
    return logprobs[a] > logprobs[b] || (logprobs[a] == logprobs[b] && a < b);
  };
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), better);
  std::vector<TokenLogprob> top(k);
  for (int32_t i = 0; i < k; ++i) top[i] = {ids[i], logprobs[ids[i]]};
  return top;
}

LogprobEntry MakeLogprobEntry(absl::Span<const float> logprobs, int32_t chosen, int32_t k) {
  LogprobEntry e;
  e.chosen = {chosen, logprobs[chosen]};
  e.top = TopK(logprobs, k);
  return e;
}

double CounterUniform(uint64_t seed, uint64_t index) { return CounterRngUniform(seed, index); }

int32_t SampleToken(absl::Span<const float> logits, const SamplingParams& params,
                    int64_t sample_index) {
  int32_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > logits[best]) best = static_cast<int32_t>(i);
  }
  if (params.temperature <= 0.0f) return best;
  // Inverse-CDF draw from softmax(logits / T), relative to the max for stability.
  const double inv_t = 1.0 / params.temperature;
  std::vector<double> weights(logits.size());
  double total = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    weights[i] = std::exp((static_cast<double>(logits[i]) - logits[best]) * inv_t);
    total += weights[i];
  }
  const double target = CounterUniform(params.seed, static_cast<uint64_t>(sample_index)) * total;
  double acc = 0;
  int32_t last_possible = best;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (weights[i] <= 0) continue;
    acc += weights[i];
    last_possible = static_cast<int32_t>(i);
    if (target < acc) return last_possible;
  }
  return last_possible;  // rounding left the target at the very end of the CDF
}

}  // namespace tessera
