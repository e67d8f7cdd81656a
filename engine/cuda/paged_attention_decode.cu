// Split-KV ("flash-decoding") attention of the sequences with one query token.
//
// Grid (split, kv_head x head chunk, seq). A CTA owns one split of one sequence's KV range
// [lo, pos] and kHeads query heads of one KV head's GQA group: every K/V row it loads (cp.async,
// 32 positions per tile, double-buffered) serves all of them. Warp w handles heads
// w, w + kWarps, ...; in the score phase lane t takes tile row t, so each warp owns whole rows of
// the online softmax (max and sum by warp shuffles); in the P.V phase lane l owns dimensions
// [l * head_dim / 32, (l + 1) * head_dim / 32) of each of its heads' accumulators.
//
// One split: the CTA writes the bf16 output. Several: it writes its unnormalized accumulator and
// (max, sum) to the workspace and paged_attention_decode_reduce.cu combines them.
#include <cuda_bf16.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/paged_attention_internal.cuh"

namespace tessera::paged_attention_internal {
namespace {

template <int kHeads>
constexpr int DecodeWarps() {
  return kHeads < 4 ? kHeads : 4;
}

template <int kHeadDim, int kHeads>
__global__ void __launch_bounds__(32 * DecodeWarps<kHeads>())
    PagedDecodeKernel(Params p, DecodePartials partials) {
  constexpr int kWarps = DecodeWarps<kHeads>();
  constexpr int kThreads = 32 * kWarps;
  constexpr int kHeadsPerWarp = kHeads / kWarps;
  constexpr int kDimsPerLane = kHeadDim / 32;
  constexpr int kStride = kHeadDim + kRowPad;
  static_assert(kHeads % kWarps == 0);
  static_assert(kDimsPerLane == 2 || kDimsPerLane == 4);

  __shared__ alignas(16) __nv_bfloat16 k_s[2][kKvTile][kStride];
  __shared__ alignas(16) __nv_bfloat16 v_s[2][kKvTile][kStride];
  __shared__ alignas(16) float q_s[kHeads][kHeadDim];

  const int seq = blockIdx.z;
  const int32_t q_begin = p.qo_indptr[seq];
  if (p.qo_indptr[seq + 1] - q_begin != 1) return;  // not a decode: the prefill kernel's

  const int head_chunks = (p.group + kHeads - 1) / kHeads;
  const int kv_head = static_cast<int>(blockIdx.y) / head_chunks;
  const int chunk = static_cast<int>(blockIdx.y) % head_chunks;
  const int head0 = kv_head * p.group + chunk * kHeads;
  const int n_heads = min(kHeads, p.group - chunk * kHeads);
  const int split = blockIdx.x;
  const int num_splits = partials.num_splits;

  // The query sits at position `pos` and attends [lo, pos]; this split takes a kKvTile-aligned
  // share of that range (possibly none).
  const int64_t pos = p.num_cached[seq];
  const int64_t lo =
      p.sliding_window > 0 ? max(static_cast<int64_t>(0), pos - p.sliding_window + 1) : 0;
  const int64_t len = pos + 1 - lo;
  const int64_t per_split = ((len + num_splits - 1) / num_splits + kKvTile - 1) / kKvTile * kKvTile;
  const int64_t start = lo + split * per_split;
  const int64_t end = min(start + per_split, pos + 1);

  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;

  float m[kHeadsPerWarp], l[kHeadsPerWarp], acc[kHeadsPerWarp][kDimsPerLane];
#pragma unroll
  for (int j = 0; j < kHeadsPerWarp; ++j) {
    m[j] = -INFINITY;
    l[j] = 0.0f;
#pragma unroll
    for (int e = 0; e < kDimsPerLane; ++e) acc[j][e] = 0.0f;
  }

  if (start < end) {  // uniform over the CTA
    const int32_t blocks_begin = p.kv_indptr[seq];
    const int32_t num_blocks = p.kv_indptr[seq + 1] - blocks_begin;
    const int n_tiles = static_cast<int>((end - start + kKvTile - 1) / kKvTile);

    LoadKvTile<kHeadDim, kThreads>(p, kv_head, blocks_begin, num_blocks, start, end, k_s[0],
                                   v_s[0]);
    CpAsyncCommit();

    // q of this CTA's heads (contiguous in memory), pre-scaled into the log2 domain.
    const __nv_bfloat16* q = p.q + (static_cast<int64_t>(q_begin) * p.num_heads + head0) * kHeadDim;
    for (int i = threadIdx.x; i < kHeads * kHeadDim; i += kThreads) {
      const int g = i / kHeadDim;
      q_s[g][i % kHeadDim] = g < n_heads ? __bfloat162float(q[i]) * p.scale_log2 : 0.0f;
    }

    for (int it = 0; it < n_tiles; ++it) {
      const int buf = it & 1;
      const int64_t tile_start = start + static_cast<int64_t>(it) * kKvTile;
      if (it + 1 < n_tiles) {
        LoadKvTile<kHeadDim, kThreads>(p, kv_head, blocks_begin, num_blocks, tile_start + kKvTile,
                                       end, k_s[buf ^ 1], v_s[buf ^ 1]);
      }
      CpAsyncCommit();  // possibly empty, so that the wait below always leaves one group
      CpAsyncWait<1>();
      __syncthreads();  // tile `it` (and q_s) visible to every warp

      // Scores of row `lane` for each of this warp's heads.
      float s[kHeadsPerWarp];
#pragma unroll
      for (int j = 0; j < kHeadsPerWarp; ++j) s[j] = 0.0f;
#pragma unroll
      for (int c = 0; c < kHeadDim / 8; ++c) {
        const uint4 kr = *reinterpret_cast<const uint4*>(&k_s[buf][lane][c * 8]);
        const float2 k0 = Bf16x2ToFloat2(kr.x), k1 = Bf16x2ToFloat2(kr.y);
        const float2 k2 = Bf16x2ToFloat2(kr.z), k3 = Bf16x2ToFloat2(kr.w);
#pragma unroll
        for (int j = 0; j < kHeadsPerWarp; ++j) {
          const int g = warp + j * kWarps;
          const float4 qa = *reinterpret_cast<const float4*>(&q_s[g][c * 8]);
          const float4 qb = *reinterpret_cast<const float4*>(&q_s[g][c * 8 + 4]);
          s[j] += qa.x * k0.x + qa.y * k0.y + qa.z * k1.x + qa.w * k1.y + qb.x * k2.x +
                  qb.y * k2.y + qb.z * k3.x + qb.w * k3.y;
        }
      }

      // Online softmax over the tile (rows past `end` are masked).
      const bool row_valid = tile_start + lane < end;
      float prob[kHeadsPerWarp];
#pragma unroll
      for (int j = 0; j < kHeadsPerWarp; ++j) {
        const float sj = row_valid ? s[j] : -INFINITY;
        const float m_new = fmaxf(m[j], WarpMax(sj));
        const float m_use = m_new == -INFINITY ? 0.0f : m_new;  // no (-inf) - (-inf)
        const float alpha = exp2f(m[j] - m_use);
        prob[j] = exp2f(sj - m_use);
        l[j] = l[j] * alpha + prob[j];  // per-lane partial sum; reduced at the end
        m[j] = m_new;
#pragma unroll
        for (int e = 0; e < kDimsPerLane; ++e) acc[j][e] *= alpha;
      }

      // acc += P . V over the valid rows of the tile.
      const int n_valid = static_cast<int>(min(static_cast<int64_t>(kKvTile), end - tile_start));
#pragma unroll 4
      for (int t = 0; t < n_valid; ++t) {
        float v[kDimsPerLane];
        if constexpr (kDimsPerLane == 4) {
          const uint2 w = *reinterpret_cast<const uint2*>(&v_s[buf][t][lane * 4]);
          const float2 a = Bf16x2ToFloat2(w.x), b = Bf16x2ToFloat2(w.y);
          v[0] = a.x;
          v[1] = a.y;
          v[2] = b.x;
          v[3] = b.y;
        } else {
          const uint32_t w = *reinterpret_cast<const uint32_t*>(&v_s[buf][t][lane * 2]);
          const float2 a = Bf16x2ToFloat2(w);
          v[0] = a.x;
          v[1] = a.y;
        }
#pragma unroll
        for (int j = 0; j < kHeadsPerWarp; ++j) {
          const float pt = __shfl_sync(0xffffffffu, prob[j], t);
#pragma unroll
          for (int e = 0; e < kDimsPerLane; ++e) acc[j][e] += pt * v[e];
        }
      }
      __syncthreads();  // every warp is done with `buf` before the next iteration refills it
    }
  }

#pragma unroll
  for (int j = 0; j < kHeadsPerWarp; ++j) {
    const float sum = WarpSum(l[j]);
    const int g = warp + j * kWarps;
    if (g >= n_heads) continue;
    const int head = head0 + g;
    if (num_splits == 1) {
      const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
      __nv_bfloat16* o = p.out + (static_cast<int64_t>(q_begin) * p.num_heads + head) * kHeadDim +
                         lane * kDimsPerLane;
#pragma unroll
      for (int e = 0; e < kDimsPerLane; e += 2) {
        *reinterpret_cast<__nv_bfloat162*>(o + e) =
            __floats2bfloat162_rn(acc[j][e] * inv, acc[j][e + 1] * inv);
      }
    } else {
      const int64_t idx = (static_cast<int64_t>(seq) * p.num_heads + head) * num_splits + split;
      float* a = partials.acc + idx * kHeadDim + lane * kDimsPerLane;
#pragma unroll
      for (int e = 0; e < kDimsPerLane; ++e) a[e] = acc[j][e];
      if (lane == 0) {
        partials.ml[idx * 2] = m[j];
        partials.ml[idx * 2 + 1] = sum;
      }
    }
  }
}

template <int kHeadDim, int kHeads>
absl::Status Launch(const Params& p, const DecodePartials& partials, cudaStream_t stream) {
  const int head_chunks = (p.group + kHeads - 1) / kHeads;
  const dim3 grid(partials.num_splits, p.num_kv_heads * head_chunks, p.num_seqs);
  PagedDecodeKernel<kHeadDim, kHeads><<<grid, 32 * DecodeWarps<kHeads>(), 0, stream>>>(p, partials);
  return CudaStatus(cudaGetLastError(),
                    absl::StrCat("PagedDecodeKernel<", kHeadDim, ",", kHeads, "> launch").c_str());
}

template <int kHeadDim>
absl::Status LaunchForHeadDim(const Params& p, const DecodePartials& partials,
                              cudaStream_t stream) {
  switch (DecodeHeadsPerCta(p.group)) {
    case 1:
      return Launch<kHeadDim, 1>(p, partials, stream);
    case 2:
      return Launch<kHeadDim, 2>(p, partials, stream);
    case 4:
      return Launch<kHeadDim, 4>(p, partials, stream);
    case 8:
      return Launch<kHeadDim, 8>(p, partials, stream);
    default:
      return Launch<kHeadDim, 16>(p, partials, stream);
  }
}

}  // namespace

int DecodeHeadsPerCta(int group) {
  if (group <= 1) return 1;
  if (group <= 2) return 2;
  if (group <= 4) return 4;
  if (group <= 8) return 8;
  return 16;
}

absl::Status LaunchPagedDecode(const Params& p, int head_dim, const DecodePartials& partials,
                               cudaStream_t stream) {
  switch (head_dim) {
    case 64:
      return LaunchForHeadDim<64>(p, partials, stream);
    case 128:
      return LaunchForHeadDim<128>(p, partials, stream);
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("paged attention (decode): head_dim ", head_dim, " is not 64 or 128"));
  }
}

}  // namespace tessera::paged_attention_internal
