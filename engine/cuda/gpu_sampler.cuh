// GPU sampler: turns fp32 logit rows on the device into what the host needs (a sampled token,
// requested log-probabilities and top-k alternatives), so whole logit rows never leave the device.
//
// It follows the host reference (engine/sampler.h): log-probabilities are the log-softmax of the
// raw logits (before temperature); greedy is the arg-max with the lowest id on ties; top-k is
// sorted by descending log-probability with the lower id first on ties; temperature sampling is an
// inverse-CDF draw over exp((l - max) / T) in double with target CounterUniform(seed,
// sample_index) * total, choosing the first token whose running prefix sum exceeds the target.
// Sums are taken in a different order than on the host, so a draw that lands within rounding of a
// CDF boundary may pick the neighbouring token; otherwise the token is the host's.
#ifndef TESSERA_ENGINE_CUDA_GPU_SAMPLER_CUH_
#define TESSERA_ENGINE_CUDA_GPU_SAMPLER_CUH_

#include <cuda_runtime_api.h>

#include <cstdint>
#include <type_traits>

#include "absl/status/status.h"

namespace tessera {

// Most top-k alternatives one row can ask for.
inline constexpr int32_t kMaxTopK = 20;
// Largest vocabulary the sampler handles (its per-row chunk table lives in shared memory).
inline constexpr int32_t kMaxGpuSamplerVocab = 1 << 20;

// What to compute for one logit row. Plain data, uploaded as is.
struct GpuSampleRequest {
  int32_t sample = 0;        // 1: sample a token; 0: log-probabilities only
  float temperature = 0.0f;  // <= 0: greedy
  uint64_t seed = 0;         // with sample_index, picks the draw (temperature > 0)
  int64_t sample_index = 0;  // used as uint64_t, as the host sampler does
  int32_t target = -1;       // token whose log-probability is wanted, or -1
  int32_t top_k = 0;         // 0..kMaxTopK alternatives, by descending log-probability
};
static_assert(std::is_trivially_copyable_v<GpuSampleRequest>);
static_assert(std::is_standard_layout_v<GpuSampleRequest>);

// What one row produced. Log-probabilities are of log_softmax(raw logits).
struct GpuSampleResult {
  int32_t token;                 // sampled token, or -1 when the request asked for no sample
  float token_logprob;           // its log-probability (0 when no sample)
  float target_logprob;          // the target's log-probability (0 when target is -1)
  int32_t num_top;               // min(top_k, vocab) entries of top_ids/top_logprobs are filled
  int32_t top_ids[kMaxTopK];     // the rest hold -1
  float top_logprobs[kMaxTopK];  // the rest hold 0
  int32_t non_finite;            // 1 when a logit of the row is NaN or +-inf (the rest is then
                                 // meaningless), else 0
};
static_assert(std::is_trivially_copyable_v<GpuSampleResult>);
static_assert(std::is_standard_layout_v<GpuSampleResult>);

// Checks one request on the host before upload: sample is 0 or 1, temperature finite and >= 0,
// target in [-1, vocab), top_k in [0, kMaxTopK], vocab in [1, kMaxGpuSamplerVocab].
absl::Status ValidateGpuSampleRequest(const GpuSampleRequest& request, int32_t vocab);

// logits: [num_rows, vocab] fp32 on the device (finite, or -inf with at least one finite value per
// row); requests and results: [num_rows] on the device, requests already validated. One CTA per
// row; asynchronous on `stream`. Checks its arguments and the launch. A row holding any NaN or
// +-inf gets non_finite = 1 (raw model logits never hold either unless the model overflowed); the
// check rides on the pass that reads every logit, so it costs no extra launch or host sync.
absl::Status LaunchGpuSampler(const float* logits, int32_t num_rows, int32_t vocab,
                              const GpuSampleRequest* requests, GpuSampleResult* results,
                              cudaStream_t stream);

// out[i] = CounterUniform(seeds[i], indices[i]) computed on the device (all pointers on the
// device): lets tests check that device draws are bit-identical to the host's.
absl::Status LaunchCounterUniform(const uint64_t* seeds, const uint64_t* indices, int32_t n,
                                  double* out, cudaStream_t stream);

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_GPU_SAMPLER_CUH_
