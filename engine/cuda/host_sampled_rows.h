// Logit rows that the CUDA engine samples on the host: sampling the GPU sampler does not cover yet
// (top-k/top-p/min-p cuts, penalties, logit bias, suppressed ids; see IsPlainSampling). Their fp32
// logits are copied into a pinned host buffer and sampled by the host sampler (engine/sampler.h),
// log-probabilities included, so a request gets the same semantics on both backends. The GPU
// sampler will grow to cover these cases and this class will go.
//
// Owned by the engine; not thread-safe. Rows are valid once the stream their copies were queued
// on has been synchronized.
#ifndef TESSERA_ENGINE_CUDA_HOST_SAMPLED_ROWS_H_
#define TESSERA_ENGINE_CUDA_HOST_SAMPLED_ROWS_H_

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "engine/sampler.h"
#include "engine/step_plan.h"

namespace tessera {

class HostSampledRows {
 public:
  HostSampledRows() = default;
  HostSampledRows(const HostSampledRows&) = delete;
  HostSampledRows& operator=(const HostSampledRows&) = delete;
  ~HostSampledRows();

  // Whether the last fed position of `seq` is sampled here rather than by the GPU sampler.
  static bool Needed(const StepSequence& seq, int64_t vocab_size);

  // Forgets the rows of the previous pass and makes room for `count` rows of `vocab` logits
  // (the pinned buffer only grows).
  absl::Status Reset(int32_t count, int64_t vocab);
  // Queues the copy of one device logit row into the next slot; returns its slot in `slot`.
  absl::Status EnqueueCopy(const float* device_row, cudaStream_t stream, int32_t* slot);
  // Samples the row in `slot` for `seq` into out->sampled_token and, when asked,
  // out->sample_logprobs (of the raw logits). The copy must have completed.
  void Sample(int32_t slot, const StepSequence& seq, SequenceOutput* out);

 private:
  float* host_ = nullptr;  // pinned, capacity_ floats
  int64_t capacity_ = 0;
  int64_t vocab_ = 0;
  int32_t count_ = 0;  // rows reserved by Reset
  int32_t used_ = 0;   // slots handed out since Reset
  SamplerScratch scratch_;
  std::vector<float> logprobs_;
};

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_HOST_SAMPLED_ROWS_H_
