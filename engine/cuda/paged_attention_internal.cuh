// Private to the paged-attention kernels (paged_attention*.cu): the validated launch parameters,
// the split-KV plan's constants, the per-kernel launchers and small device helpers (cp.async,
// warp reductions, bf16 unpacking).
#ifndef TESSERA_ENGINE_CUDA_PAGED_ATTENTION_INTERNAL_CUH_
#define TESSERA_ENGINE_CUDA_PAGED_ATTENTION_INTERNAL_CUH_

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"
#include "engine/memory_plan.h"

namespace tessera::paged_attention_internal {

// KV positions per shared-memory tile (both paths); equal to the warp size, so that lane t of
// every warp can look up the page of tile row t and hand it to the other lanes by shuffle.
inline constexpr int kKvTile = 32;
// Padding of a shared-memory K/V row (bf16 elements): 16 bytes, so that the lanes of a warp that
// read the same column of consecutive rows fall in different banks.
inline constexpr int kRowPad = 8;

// Split-KV decode plan. A split covers at least kMinSplitLen positions (short contexts get one
// split, written straight to the output); at most kMaxSplits per sequence, and num_seqs *
// num_splits <= kSplitSlotBudget whenever num_splits > 1, which bounds the workspace.
inline constexpr int kMaxSplits = kPagedAttentionMaxSplits;  // the memory plan's (no CUDA there)
inline constexpr int kSplitSlotBudget = kPagedAttentionSplitSlotBudget;
inline constexpr int kMinSplitLen = 128;

// Prefill: query rows per CTA (4 warps x 16 rows of the mma tile).
inline constexpr int kPrefillRows = 64;
inline constexpr int kPrefillThreads = 128;

// PagedAttentionArgs after host validation, plus derived values.
struct Params {
  const __nv_bfloat16* q;
  const __nv_bfloat16* kv;
  __nv_bfloat16* out;
  const int32_t* qo_indptr;
  const int32_t* kv_indptr;
  const int32_t* kv_indices;
  const int32_t* num_cached;
  int32_t num_seqs;
  int32_t num_heads;
  int32_t num_kv_heads;
  int32_t group;  // num_heads / num_kv_heads
  int32_t block_size;
  int32_t sliding_window;  // 0 = full causal
  float scale_log2;        // log2(e) / sqrt(head_dim): scores live in the log2 domain
};

// Split-KV partial results: for (seq, head, split) the unnormalized accumulator acc[head_dim]
// and (max, sum) of the split's softmax, at index ((seq * num_heads + head) * num_splits + split).
struct DecodePartials {
  float* acc = nullptr;
  float* ml = nullptr;
  int32_t num_splits = 1;  // 1: the decode kernel writes the output itself
};

// Decode kernel over the sequences whose query length is 1 (the others are skipped).
absl::Status LaunchPagedDecode(const Params& p, int head_dim, const DecodePartials& partials,
                               cudaStream_t stream);
// Heads processed by one decode CTA for a GQA group of `group` query heads.
int DecodeHeadsPerCta(int group);

// Combines the splits of DecodePartials into the output (sequences of query length 1 only).
absl::Status LaunchPagedDecodeReduce(const Params& p, int head_dim, const DecodePartials& partials,
                                     cudaStream_t stream);

// Tiled prefill kernel over the sequences whose query length is at least `min_q_len`; the grid
// covers query lengths up to max_q_len.
absl::Status LaunchPagedPrefill(const Params& p, int head_dim, int32_t max_q_len, int32_t min_q_len,
                                cudaStream_t stream);

// ---------------------------------------------------------------------------------------------
// Device helpers.

#ifdef __CUDACC__

// 16-byte global -> shared copy; zero-fills the destination when !valid (src is then not read,
// but must still be a mapped address).
__device__ __forceinline__ void CpAsync16(void* smem, const void* gmem, bool valid) {
  const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  const int src_size = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem),
               "r"(src_size)
               : "memory");
}

__device__ __forceinline__ void CpAsyncCommit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}

// Waits until at most N of this thread's committed groups are still pending.
template <int N>
__device__ __forceinline__ void CpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

__device__ __forceinline__ float WarpMax(float x) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}

__device__ __forceinline__ float WarpSum(float x) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

// The two bf16 halves of a 32-bit word (low half = lower address) as floats.
__device__ __forceinline__ float2 Bf16x2ToFloat2(uint32_t w) {
  return make_float2(__uint_as_float(w << 16), __uint_as_float(w & 0xffff0000u));
}

// Offset (elements) of the K row of `pos` in the cache for one KV head; the V row is
// block_size * num_kv_heads * head_dim further. Returns false (and offset 0) when the position
// lies outside the sequence's pages.
__device__ __forceinline__ bool KvRowOffset(const Params& p, int head_dim, int kv_head,
                                            int32_t blocks_begin, int32_t num_blocks, int64_t pos,
                                            int64_t* offset) {
  *offset = 0;
  if (pos < 0) return false;
  const int64_t b = pos / p.block_size;
  if (b >= num_blocks) return false;
  const int64_t slot = pos - b * p.block_size;
  const int64_t block = p.kv_indices[blocks_begin + b];
  const int64_t token_stride = static_cast<int64_t>(p.num_kv_heads) * head_dim;
  *offset =
      (block * 2 * p.block_size + slot) * token_stride + static_cast<int64_t>(kv_head) * head_dim;
  return true;
}

// Issues the cp.async copies of the K and V rows of positions [tile_start, tile_start + kKvTile)
// (those < end) of one KV head into k_tile / v_tile ([kKvTile][kHeadDim + kRowPad]); rows past
// `end` or outside the pages are zero-filled. Every thread of the CTA (kThreads) takes part;
// the caller commits the group.
template <int kHeadDim, int kThreads>
__device__ __forceinline__ void LoadKvTile(const Params& p, int kv_head, int32_t blocks_begin,
                                           int32_t num_blocks, int64_t tile_start, int64_t end,
                                           __nv_bfloat16 (*k_tile)[kHeadDim + kRowPad],
                                           __nv_bfloat16 (*v_tile)[kHeadDim + kRowPad]) {
  constexpr int kChunksPerRow = kHeadDim / 8;
  constexpr int kChunks = kKvTile * kChunksPerRow;
  static_assert(kChunks % kThreads == 0, "tile chunks must divide among the threads");
  const int lane = threadIdx.x & 31;
  // Lane t resolves the page of row t once; the copies below fetch it by shuffle.
  const int64_t pos = tile_start + lane;
  int64_t row_offset = 0;
  const bool row_valid =
      pos < end && KvRowOffset(p, kHeadDim, kv_head, blocks_begin, num_blocks, pos, &row_offset);
  const unsigned valid_mask = __ballot_sync(0xffffffffu, row_valid);
  const int64_t v_delta = static_cast<int64_t>(p.block_size) * p.num_kv_heads * kHeadDim;
#pragma unroll
  for (int k = 0; k < kChunks / kThreads; ++k) {
    const int i = static_cast<int>(threadIdx.x) + k * kThreads;
    const int row = i / kChunksPerRow;
    const int col = (i % kChunksPerRow) * 8;
    const int64_t off = __shfl_sync(0xffffffffu, row_offset, row);
    const bool valid = (valid_mask >> row) & 1u;
    const __nv_bfloat16* src = p.kv + (valid ? off + col : 0);
    CpAsync16(&k_tile[row][col], src, valid);
    CpAsync16(&v_tile[row][col], valid ? src + v_delta : p.kv, valid);
  }
}

#endif  // __CUDACC__

}  // namespace tessera::paged_attention_internal

#endif  // TESSERA_ENGINE_CUDA_PAGED_ATTENTION_INTERNAL_CUH_
