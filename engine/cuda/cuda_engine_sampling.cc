// CudaEngine's sampling I/O: the logits of the rows that need them (final norm, lm_head, the GPU
// sampler), the sampler requests built on the host, the results and requested logits copied back,
// and the rows sampled on the host (HostSampledRows). Split from cuda_engine.cc, which runs the
// step.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/cuda/add_rms_norm.cuh"
#include "engine/cuda/cuda_engine.h"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/cuda_workspace.h"
#include "engine/cuda/gpu_sampler.cuh"
#include "engine/status_macros.h"

namespace tessera {

absl::Status CudaEngine::EnqueueLogits(const int32_t* d_rows, int32_t count) {
  CudaWorkspace& w = *ws_;
  const int32_t hidden = static_cast<int32_t>(config_.hidden_size);
  const int32_t vocab = static_cast<int32_t>(config_.vocab_size);
  TESSERA_RETURN_IF_ERROR(
      LaunchAddRmsNorm(w.x, nullptr, d_rows, count, hidden, weights_.final_norm(),
                       static_cast<float>(config_.rms_norm_eps), w.selected, stream_));
  TESSERA_RETURN_IF_ERROR(Gemm(*cublas_, w.selected, count, weights_.lm_head(), vocab, hidden,
                               w.logits, GemmOutput::kF32));
  return LaunchGpuSampler(w.logits, count, vocab, w.requests, w.results, stream_);
}

std::vector<CudaEngine::RowInfo> CudaEngine::RowsOf(const StepPlan& plan,
                                                    const std::vector<int32_t>& rows) {
  std::vector<RowInfo> info(rows.size());
  for (size_t r = 0, s = 0; r < rows.size(); ++r) {
    while (plan.qo_indptr[s + 1] <= rows[r]) ++s;
    info[r] = {static_cast<int32_t>(s), rows[r] - plan.qo_indptr[s],
               rows[r] + 1 == plan.qo_indptr[s + 1]};
  }
  return info;
}

absl::Status CudaEngine::BuildRequests(const StepPlan& plan, const std::vector<RowInfo>& info,
                                       int32_t begin, int32_t count) {
  const int32_t vocab = static_cast<int32_t>(config_.vocab_size);
  for (int32_t r = 0; r < count; ++r) {
    const RowInfo& ri = info[begin + r];
    const StepSequence& seq = plan.seqs[ri.seq];
    GpuSampleRequest& q = ws_->host_requests[r];
    q = GpuSampleRequest{};
    // Rows sampled on the host ask the GPU sampler for prompt log-probabilities only.
    q.sample = ri.last && seq.sample && !HostSampledRows::Needed(seq, vocab) ? 1 : 0;
    q.temperature = seq.sampling.temperature;
    q.seed = seq.sampling.seed;
    q.sample_index = seq.sample_index;
    q.target = seq.prompt_targets.empty() ? -1 : seq.prompt_targets[ri.j];
    q.top_k = std::max(q.target >= 0 ? seq.prompt_top_k : 0,
                       q.sample != 0 ? seq.sampling.num_logprobs : 0);
    if (absl::Status s = ValidateGpuSampleRequest(q, vocab); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("sequence ", ri.seq, ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status CudaEngine::FetchOutputs(const StepPlan& plan, const std::vector<RowInfo>& info,
                                      int32_t begin, int32_t count, StepResult* result) {
  CudaWorkspace& w = *ws_;
  const int32_t vocab = static_cast<int32_t>(config_.vocab_size);
  TESSERA_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(
      w.host_results, w.results, count * sizeof(GpuSampleResult), cudaMemcpyDeviceToHost, stream_));
  for (int32_t r = 0; r < count; ++r) {
    const RowInfo& ri = info[begin + r];
    if (ri.last && plan.seqs[ri.seq].return_last_logits) {
      std::vector<float>& out = result->seqs[ri.seq].last_logits;
      out.resize(vocab);
      TESSERA_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(out.data(), w.logits + int64_t{r} * vocab,
                                                   vocab * sizeof(float), cudaMemcpyDeviceToHost,
                                                   stream_));
    }
  }
  TESSERA_RETURN_IF_ERROR(EnqueueHostSampledRows(plan, info, begin, count, nullptr));
  TESSERA_RETURN_IF_ERROR(Synchronize());
  FillOutputs(plan, info, begin, count, result);
  SampleHostRows(plan, info, begin, count, result);
  return absl::OkStatus();
}

absl::Status CudaEngine::EnqueueHostSampledRows(const StepPlan& plan,
                                                const std::vector<RowInfo>& info, int32_t begin,
                                                int32_t count, const int32_t* logit_rows) {
  const int64_t vocab = config_.vocab_size;
  auto needed = [&](const RowInfo& ri) {
    return ri.last && HostSampledRows::Needed(plan.seqs[ri.seq], vocab);
  };
  int32_t n = 0;
  for (int32_t r = 0; r < count; ++r) n += needed(info[begin + r]) ? 1 : 0;
  host_slots_.assign(count, -1);
  if (n == 0) return absl::OkStatus();
  TESSERA_RETURN_IF_ERROR(host_rows_.Reset(n, vocab));
  for (int32_t r = 0; r < count; ++r) {
    if (!needed(info[begin + r])) continue;
    const int64_t row = logit_rows != nullptr ? logit_rows[r] : r;
    TESSERA_RETURN_IF_ERROR(
        host_rows_.EnqueueCopy(ws_->logits + row * vocab, stream_, &host_slots_[r]));
  }
  return absl::OkStatus();
}

void CudaEngine::SampleHostRows(const StepPlan& plan, const std::vector<RowInfo>& info,
                                int32_t begin, int32_t count, StepResult* result) {
  for (int32_t r = 0; r < count; ++r) {
    if (host_slots_[r] < 0) continue;
    const RowInfo& ri = info[begin + r];
    host_rows_.Sample(host_slots_[r], plan.seqs[ri.seq], &result->seqs[ri.seq]);
  }
}

void CudaEngine::FillOutputs(const StepPlan& plan, const std::vector<RowInfo>& info, int32_t begin,
                             int32_t count, StepResult* result) const {
  for (int32_t r = 0; r < count; ++r) {
    const RowInfo& ri = info[begin + r];
    const StepSequence& seq = plan.seqs[ri.seq];
    const GpuSampleRequest& q = ws_->host_requests[r];
    const GpuSampleResult& g = ws_->host_results[r];
    SequenceOutput& out = result->seqs[ri.seq];
    if (g.non_finite != 0) out.logits_non_finite = true;
    auto entry = [&g](int32_t id, float logprob, int32_t k) {
      LogprobEntry e;
      e.chosen = {id, logprob};
      for (int32_t i = 0; i < std::min(k, g.num_top); ++i) {
        e.top.push_back({g.top_ids[i], g.top_logprobs[i]});
      }
      return e;
    };
    if (q.target >= 0) {
      out.prompt_logprobs[ri.j] = entry(q.target, g.target_logprob, seq.prompt_top_k);
    }
    if (q.sample != 0) {
      out.sampled_token = g.token;
      if (seq.sampling.num_logprobs > 0) {
        out.sample_logprobs = entry(g.token, g.token_logprob, seq.sampling.num_logprobs);
      }
    }
  }
}

}  // namespace tessera
