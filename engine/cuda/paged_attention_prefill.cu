// Tiled causal attention of prefill chunks against the paged KV cache (FlashAttention-2 style,
// bf16 tensor cores through mma.sync.m16n8k16, fp32 accumulation and softmax).
//
// Grid (row tile, kv_head, seq). The query rows of (seq, kv_head) are its tokens x the query heads
// of the GQA group, token-major (row r = token r / group, head r % group), so a CTA's 64 rows
// share the K/V of one KV head and span few positions. The CTA loops over the KV positions
// [lo of its first row, position of its last row] in tiles of 32 (cp.async, double-buffered,
// each row's page looked up through the CSR page table) with an online softmax; each score is
// masked to the causal (and sliding-window) range of its own row.
//
// Warp w owns rows [16 w, 16 w + 16) of the tile; in the m16n8k16 fragments lane l holds rows
// l / 4 and l / 4 + 8 and columns 2 (l % 4) + {0, 1} of each 8-column slice. Q stays in registers
// as A fragments for the whole loop; S = Q K^T (K rows are B's columns: contiguous 32-bit loads
// from shared memory); P is rounded to bf16 and reused as the A fragment of O += P V.
#include <cuda_bf16.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/paged_attention_internal.cuh"

namespace tessera::paged_attention_internal {
namespace {

// d += a * b for one m16n8k16 tile (bf16 inputs, fp32 accumulators).
__device__ __forceinline__ void MmaBf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                        uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t PackBf16x2(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}

template <int kHeadDim>
__global__ void __launch_bounds__(kPrefillThreads) PagedPrefillKernel(Params p, int32_t min_q_len) {
  constexpr int kStride = kHeadDim + kRowPad;
  constexpr int kKSteps = kHeadDim / 16;  // k-steps of S = Q K^T
  constexpr int kNTiles = kKvTile / 8;    // 8-column slices of S
  constexpr int kDTiles = kHeadDim / 8;   // 8-column slices of O
  static_assert(kPrefillThreads == 128 && kPrefillRows == 64, "4 warps x 16 rows");

  __shared__ alignas(16) __nv_bfloat16 k_s[2][kKvTile][kStride];
  __shared__ alignas(16) __nv_bfloat16 v_s[2][kKvTile][kStride];

  const int seq = blockIdx.z;
  const int32_t q_begin = p.qo_indptr[seq];
  const int32_t q_len = p.qo_indptr[seq + 1] - q_begin;
  if (q_len < min_q_len) return;  // a decode: the decode kernel's
  const int kv_head = blockIdx.y;
  const int group = p.group;
  const int64_t rows = static_cast<int64_t>(q_len) * group;
  // Last tiles first: they have the longest causal ranges.
  const int64_t row0 = static_cast<int64_t>(gridDim.x - 1 - blockIdx.x) * kPrefillRows;
  if (row0 >= rows) return;

  const int64_t cached = p.num_cached[seq];
  const int64_t row_last = min(row0 + kPrefillRows, rows) - 1;
  const int64_t pos_first = cached + row0 / group;
  const int64_t kv_lo =
      p.sliding_window > 0 ? max(static_cast<int64_t>(0), pos_first - p.sliding_window + 1) : 0;
  const int64_t kv_end = cached + row_last / group + 1;
  const int32_t blocks_begin = p.kv_indptr[seq];
  const int32_t num_blocks = p.kv_indptr[seq + 1] - blocks_begin;
  const int n_tiles = static_cast<int>((kv_end - kv_lo + kKvTile - 1) / kKvTile);

  LoadKvTile<kHeadDim, kPrefillThreads>(p, kv_head, blocks_begin, num_blocks, kv_lo, kv_end, k_s[0],
                                        v_s[0]);
  CpAsyncCommit();

  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int gid = lane / 4;  // fragment row (and +8)
  const int tig = lane % 4;  // fragment column pair

  // This thread's two rows (hf = 0: gid, hf = 1: gid + 8): position, window start, q/out row.
  bool row_valid[2];
  int64_t q_pos[2], q_lo[2], row_offset[2];
#pragma unroll
  for (int hf = 0; hf < 2; ++hf) {
    const int64_t r = row0 + warp * 16 + gid + hf * 8;
    row_valid[hf] = r < rows;
    q_pos[hf] = -1;  // an invalid row masks every column
    q_lo[hf] = 0;
    row_offset[hf] = 0;
    if (row_valid[hf]) {
      const int64_t token = r / group;
      const int head = kv_head * group + static_cast<int>(r % group);
      q_pos[hf] = cached + token;
      if (p.sliding_window > 0)
        q_lo[hf] = max(static_cast<int64_t>(0), q_pos[hf] - p.sliding_window + 1);
      row_offset[hf] = ((q_begin + token) * p.num_heads + head) * kHeadDim;
    }
  }

  // Q as A fragments: [k-step][reg], reg 0/2 row gid, 1/3 row gid + 8; 2/3 are columns + 8.
  uint32_t qf[kKSteps][4];
#pragma unroll
  for (int ks = 0; ks < kKSteps; ++ks) {
#pragma unroll
    for (int reg = 0; reg < 4; ++reg) {
      const int hf = reg & 1;
      const int col = ks * 16 + (reg >> 1) * 8 + tig * 2;
      qf[ks][reg] =
          row_valid[hf] ? *reinterpret_cast<const uint32_t*>(p.q + row_offset[hf] + col) : 0u;
    }
  }

  float o[kDTiles][4];
#pragma unroll
  for (int nd = 0; nd < kDTiles; ++nd) {
#pragma unroll
    for (int c = 0; c < 4; ++c) o[nd][c] = 0.0f;
  }
  float m[2] = {-INFINITY, -INFINITY};
  float l[2] = {0.0f, 0.0f};  // per-lane partial row sums, reduced over the 4 lanes at the end

  for (int it = 0; it < n_tiles; ++it) {
    const int buf = it & 1;
    const int64_t tile_start = kv_lo + static_cast<int64_t>(it) * kKvTile;
    if (it + 1 < n_tiles) {
      LoadKvTile<kHeadDim, kPrefillThreads>(p, kv_head, blocks_begin, num_blocks,
                                            tile_start + kKvTile, kv_end, k_s[buf ^ 1],
                                            v_s[buf ^ 1]);
    }
    CpAsyncCommit();  // possibly empty, so that the wait below always leaves one group
    CpAsyncWait<1>();
    __syncthreads();  // tile `it` visible to every warp

    // S = Q K^T: s[nt] holds rows gid / gid + 8, columns nt * 8 + 2 tig + {0, 1}.
    float s[kNTiles][4];
#pragma unroll
    for (int nt = 0; nt < kNTiles; ++nt) {
#pragma unroll
      for (int c = 0; c < 4; ++c) s[nt][c] = 0.0f;
    }
#pragma unroll
    for (int ks = 0; ks < kKSteps; ++ks) {
#pragma unroll
      for (int nt = 0; nt < kNTiles; ++nt) {
        const __nv_bfloat16* kr = &k_s[buf][nt * 8 + gid][ks * 16 + tig * 2];
        MmaBf16(s[nt], qf[ks], *reinterpret_cast<const uint32_t*>(kr),
                *reinterpret_cast<const uint32_t*>(kr + 8));
      }
    }

    // Mask to each row's [lo, pos], scale into the log2 domain, online softmax.
    float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int nt = 0; nt < kNTiles; ++nt) {
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const int hf = c >> 1;
        const int64_t j = tile_start + nt * 8 + tig * 2 + (c & 1);
        s[nt][c] = (j <= q_pos[hf] && j >= q_lo[hf]) ? s[nt][c] * p.scale_log2 : -INFINITY;
        tile_max[hf] = fmaxf(tile_max[hf], s[nt][c]);
      }
    }
    float m_use[2], alpha[2];
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
      tile_max[hf] = fmaxf(tile_max[hf], __shfl_xor_sync(0xffffffffu, tile_max[hf], 1));
      tile_max[hf] = fmaxf(tile_max[hf], __shfl_xor_sync(0xffffffffu, tile_max[hf], 2));
      const float m_new = fmaxf(m[hf], tile_max[hf]);
      m_use[hf] = m_new == -INFINITY ? 0.0f : m_new;  // no (-inf) - (-inf)
      alpha[hf] = exp2f(m[hf] - m_use[hf]);
      m[hf] = m_new;
    }
    float row_sum[2] = {0.0f, 0.0f};
#pragma unroll
    for (int nt = 0; nt < kNTiles; ++nt) {
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        s[nt][c] = exp2f(s[nt][c] - m_use[c >> 1]);
        row_sum[c >> 1] += s[nt][c];
      }
    }
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) l[hf] = l[hf] * alpha[hf] + row_sum[hf];
#pragma unroll
    for (int nd = 0; nd < kDTiles; ++nd) {
      o[nd][0] *= alpha[0];
      o[nd][1] *= alpha[0];
      o[nd][2] *= alpha[1];
      o[nd][3] *= alpha[1];
    }

    // O += P V: P's A fragment for KV rows [16 kk, 16 kk + 16) is S slices 2 kk and 2 kk + 1;
    // V's B fragment pairs rows 2 tig + {0, 1} (and + 8) of column nd * 8 + gid.
    const unsigned short* vbase = reinterpret_cast<const unsigned short*>(&v_s[buf][0][0]);
#pragma unroll
    for (int kk = 0; kk < kKvTile / 16; ++kk) {
      const uint32_t a[4] = {PackBf16x2(s[2 * kk][0], s[2 * kk][1]),
                             PackBf16x2(s[2 * kk][2], s[2 * kk][3]),
                             PackBf16x2(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                             PackBf16x2(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int nd = 0; nd < kDTiles; ++nd) {
        const unsigned short* vr = vbase + (kk * 16 + tig * 2) * kStride + nd * 8 + gid;
        const uint32_t b0 =
            static_cast<uint32_t>(vr[0]) | (static_cast<uint32_t>(vr[kStride]) << 16);
        const uint32_t b1 =
            static_cast<uint32_t>(vr[8 * kStride]) | (static_cast<uint32_t>(vr[9 * kStride]) << 16);
        MmaBf16(o[nd], a, b0, b1);
      }
    }
    __syncthreads();  // every warp is done with `buf` before the next iteration refills it
  }

#pragma unroll
  for (int hf = 0; hf < 2; ++hf) {
    l[hf] += __shfl_xor_sync(0xffffffffu, l[hf], 1);
    l[hf] += __shfl_xor_sync(0xffffffffu, l[hf], 2);
    if (!row_valid[hf]) continue;
    const float inv = l[hf] > 0.0f ? 1.0f / l[hf] : 0.0f;
    __nv_bfloat16* out = p.out + row_offset[hf] + tig * 2;
#pragma unroll
    for (int nd = 0; nd < kDTiles; ++nd) {
      *reinterpret_cast<__nv_bfloat162*>(out + nd * 8) =
          __floats2bfloat162_rn(o[nd][2 * hf] * inv, o[nd][2 * hf + 1] * inv);
    }
  }
}

template <int kHeadDim>
absl::Status Launch(const Params& p, int32_t max_q_len, int32_t min_q_len, cudaStream_t stream) {
  const int64_t row_tiles =
      (static_cast<int64_t>(max_q_len) * p.group + kPrefillRows - 1) / kPrefillRows;
  if (row_tiles > 0x7fffffff) {
    return absl::InvalidArgumentError(absl::StrCat("paged attention (prefill): max_q_len ",
                                                   max_q_len, " x group ", p.group,
                                                   " needs more than 2^31 row tiles"));
  }
  const dim3 grid(static_cast<unsigned>(row_tiles), p.num_kv_heads, p.num_seqs);
  PagedPrefillKernel<kHeadDim><<<grid, kPrefillThreads, 0, stream>>>(p, min_q_len);
  return CudaStatus(cudaGetLastError(),
                    absl::StrCat("PagedPrefillKernel<", kHeadDim, "> launch").c_str());
}

}  // namespace

absl::Status LaunchPagedPrefill(const Params& p, int head_dim, int32_t max_q_len, int32_t min_q_len,
                                cudaStream_t stream) {
  switch (head_dim) {
    case 64:
      return Launch<64>(p, max_q_len, min_q_len, stream);
    case 128:
      return Launch<128>(p, max_q_len, min_q_len, stream);
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("paged attention (prefill): head_dim ", head_dim, " is not 64 or 128"));
  }
}

}  // namespace tessera::paged_attention_internal
