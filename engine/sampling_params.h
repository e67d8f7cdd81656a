// Per-request sampling parameters as the engine sees them.
//
// The foundation sampler does greedy decoding (temperature 0) and temperature sampling with a seed;
// the scheduler issue extends this struct (top-k, top-p, penalties, ...).
#ifndef TESSERA_ENGINE_SAMPLING_PARAMS_H_
#define TESSERA_ENGINE_SAMPLING_PARAMS_H_

#include <cstdint>

namespace tessera {

struct SamplingParams {
  float temperature = 0.0f;  // 0 = greedy
  uint64_t seed = 0;
  // Top-k log-probabilities returned with each sampled token (0 = none). Log-probabilities are of
  // the model's distribution (log-softmax of the raw logits), before temperature.
  int32_t num_logprobs = 0;
};

}  // namespace tessera

#endif  // TESSERA_ENGINE_SAMPLING_PARAMS_H_
