// Paged attention of a ragged batch (prefill chunks and decodes) against the bf16 paged KV cache:
// the CUDA counterpart of engine/cpu/paged_attention.h, with the same semantics (causal, a chunk
// attends to its cached prefix, optional sliding window, GQA/MQA, scale 1/sqrt(head_dim), fp32
// softmax).
//
// Sequences with one query token take the split-KV decode path ("flash-decoding": the context is
// cut into chunks reduced in a second pass); others take the tiled prefill path with an online
// softmax. Both load each KV head once for its whole group of query heads.
#ifndef TESSERA_ENGINE_CUDA_PAGED_ATTENTION_CUH_
#define TESSERA_ENGINE_CUDA_PAGED_ATTENTION_CUH_

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"
#include "engine/memory_plan.h"

namespace tessera {

// All pointers are device pointers; the int32 arrays are the step plan's, uploaded.
struct PagedAttentionArgs {
  const __nv_bfloat16* q = nullptr;  // [num_tokens, num_heads, head_dim], already rotated
  const __nv_bfloat16* kv =
      nullptr;                   // this layer: [num_blocks][2][block_size][num_kv_heads][head_dim]
  __nv_bfloat16* out = nullptr;  // [num_tokens, num_heads, head_dim]
  const int32_t* qo_indptr = nullptr;          // [num_seqs + 1]
  const int32_t* kv_indptr = nullptr;          // [num_seqs + 1], page table CSR
  const int32_t* kv_indices = nullptr;         // block ids
  const int32_t* kv_last_block_len = nullptr;  // [num_seqs]
  const int32_t* num_cached = nullptr;         // [num_seqs]: tokens in the cache before this step
  int32_t num_seqs = 0;
  int32_t num_tokens = 0;
  int32_t num_heads = 0;
  int32_t num_kv_heads = 0;
  int32_t head_dim = 0;  // 64 or 128; anything else is an InvalidArgument error
  int32_t block_size = 0;
  int32_t sliding_window = 0;  // 0 = full causal
  // Host-side bounds of this step, used to size the grid: the longest query chunk and the longest
  // KV length (cached + fed) of any sequence.
  int32_t max_q_len = 0;
  int64_t max_kv_len = 0;
};

// PagedAttentionWorkspaceBytes (engine/memory_plan.h): the scratch LaunchPagedAttention may use
// for a step of at most `max_tokens` query tokens and `max_num_seqs` sequences (split-KV partial
// results). Allocate once at the engine's largest step.

// Validates `args` on the host (InvalidArgument naming the value: head_dim other than 64/128,
// num_heads not a multiple of num_kv_heads, block_size <= 0, a workspace smaller than
// PagedAttentionWorkspaceBytes(num_tokens, num_seqs, ...), ...) before launching anything.
// q, kv, out and the workspace must be 16-byte aligned (cudaMalloc's are). Every query length must
// be <= max_q_len (it sizes the prefill grid; with max_q_len == 1 only the decode kernel runs).
// KV lengths are taken from positions (num_cached + query length); kv_last_block_len is not read.
absl::Status LaunchPagedAttention(const PagedAttentionArgs& args, void* workspace,
                                  int64_t workspace_bytes, cudaStream_t stream);

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_PAGED_ATTENTION_CUH_
