// Second pass of the split-KV decode: combines the splits' partial softmax results.
//
// One warp per (seq, head) of a decode sequence; lane l owns dimensions
// [l * head_dim / 32, (l + 1) * head_dim / 32). With M the largest split max,
// out = sum_s 2^(m_s - M) acc_s / sum_s 2^(m_s - M) l_s (scores are in the log2 domain); empty
// splits carry m = -inf, l = 0, acc = 0 and weigh nothing.
#include <cuda_bf16.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/paged_attention_internal.cuh"

namespace tessera::paged_attention_internal {
namespace {

constexpr int kReduceWarps = 4;

template <int kHeadDim>
__global__ void __launch_bounds__(32 * kReduceWarps)
    PagedDecodeReduceKernel(Params p, DecodePartials partials) {
  constexpr int kDimsPerLane = kHeadDim / 32;
  const int lane = threadIdx.x % 32;
  const int64_t item = static_cast<int64_t>(blockIdx.x) * kReduceWarps + threadIdx.x / 32;
  if (item >= static_cast<int64_t>(p.num_seqs) * p.num_heads) return;  // uniform per warp
  const int seq = static_cast<int>(item / p.num_heads);
  const int head = static_cast<int>(item % p.num_heads);
  const int32_t q_begin = p.qo_indptr[seq];
  if (p.qo_indptr[seq + 1] - q_begin != 1) return;

  const int num_splits = partials.num_splits;
  const int64_t base = item * num_splits;  // == (seq * num_heads + head) * num_splits
  float max = -INFINITY;
  for (int s = lane; s < num_splits; s += 32) max = fmaxf(max, partials.ml[(base + s) * 2]);
  max = WarpMax(max);

  float acc[kDimsPerLane] = {};
  float sum = 0.0f;
  for (int s = 0; s < num_splits; ++s) {
    const float ms = partials.ml[(base + s) * 2];
    const float ls = partials.ml[(base + s) * 2 + 1];
    const float w = ms == -INFINITY ? 0.0f : exp2f(ms - max);
    sum += w * ls;
    const float* a = partials.acc + (base + s) * kHeadDim + lane * kDimsPerLane;
    if constexpr (kDimsPerLane == 4) {
      const float4 v = *reinterpret_cast<const float4*>(a);
      acc[0] += w * v.x;
      acc[1] += w * v.y;
      acc[2] += w * v.z;
      acc[3] += w * v.w;
    } else {
      const float2 v = *reinterpret_cast<const float2*>(a);
      acc[0] += w * v.x;
      acc[1] += w * v.y;
    }
  }
  const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
  __nv_bfloat16* o =
      p.out + (static_cast<int64_t>(q_begin) * p.num_heads + head) * kHeadDim + lane * kDimsPerLane;
#pragma unroll
  for (int e = 0; e < kDimsPerLane; e += 2) {
    *reinterpret_cast<__nv_bfloat162*>(o + e) =
        __floats2bfloat162_rn(acc[e] * inv, acc[e + 1] * inv);
  }
}

template <int kHeadDim>
absl::Status Launch(const Params& p, const DecodePartials& partials, cudaStream_t stream) {
  const int64_t items = static_cast<int64_t>(p.num_seqs) * p.num_heads;
  const int64_t blocks = (items + kReduceWarps - 1) / kReduceWarps;
  PagedDecodeReduceKernel<kHeadDim>
      <<<static_cast<unsigned>(blocks), 32 * kReduceWarps, 0, stream>>>(p, partials);
  return CudaStatus(cudaGetLastError(),
                    absl::StrCat("PagedDecodeReduceKernel<", kHeadDim, "> launch").c_str());
}

}  // namespace

absl::Status LaunchPagedDecodeReduce(const Params& p, int head_dim, const DecodePartials& partials,
                                     cudaStream_t stream) {
  switch (head_dim) {
    case 64:
      return Launch<64>(p, partials, stream);
    case 128:
      return Launch<128>(p, partials, stream);
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("paged attention (reduce): head_dim ", head_dim, " is not 64 or 128"));
  }
}

}  // namespace tessera::paged_attention_internal
