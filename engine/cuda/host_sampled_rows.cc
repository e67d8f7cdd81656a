#include "engine/cuda/host_sampled_rows.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "engine/cuda/cuda_status.h"

namespace tessera {

HostSampledRows::~HostSampledRows() {
  if (host_ != nullptr) cudaFreeHost(host_);
}

bool HostSampledRows::Needed(const StepSequence& seq, int64_t vocab_size) {
  return seq.sample && !IsPlainSampling(seq, vocab_size);
}

absl::Status HostSampledRows::Reset(int32_t count, int64_t vocab) {
  count_ = 0;
  used_ = 0;
  vocab_ = vocab;
  const int64_t need = int64_t{count} * vocab;
  if (need > capacity_) {
    const int64_t cap = std::max(need, 2 * capacity_);
    if (host_ != nullptr) cudaFreeHost(host_);
    host_ = nullptr;
    capacity_ = 0;
    TESSERA_CUDA_RETURN_IF_ERROR(
        cudaMallocHost(reinterpret_cast<void**>(&host_), cap * sizeof(float)));
    capacity_ = cap;
  }
  count_ = count;
  return absl::OkStatus();
}

absl::Status HostSampledRows::EnqueueCopy(const float* device_row, cudaStream_t stream,
                                          int32_t* slot) {
  if (used_ >= count_) {
    return absl::InternalError(
        absl::StrCat("host-sampled rows: more copies than the ", count_, " reserved"));
  }
  *slot = used_++;
  TESSERA_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(host_ + int64_t{*slot} * vocab_, device_row,
                                               vocab_ * sizeof(float), cudaMemcpyDeviceToHost,
                                               stream));
  return absl::OkStatus();
}

void HostSampledRows::Sample(int32_t slot, const StepSequence& seq, SequenceOutput* out) {
  const absl::Span<const float> row(host_ + int64_t{slot} * vocab_, vocab_);
  out->sampled_token = SampleToken(row, seq.sampling, HistoryOf(seq), seq.sample_index, &scratch_);
  if (seq.sampling.num_logprobs > 0) {
    LogSoftmax(row, &logprobs_);
    out->sample_logprobs =
        MakeLogprobEntry(logprobs_, out->sampled_token, seq.sampling.num_logprobs);
  }
}

}  // namespace tessera
