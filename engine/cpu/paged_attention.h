// Causal attention of a ragged batch against the paged KV cache (the reference for the CUDA
// prefill and decode kernels).
//
// Query token j of sequence i sits at position p = num_cached_tokens + j and attends to positions
// [lo, p] of its own sequence, lo = 0, or p - window + 1 with a sliding window. Query head h reads
// KV head h / (num_heads / num_kv_heads) (GQA; MQA when num_kv_heads = 1). Scores are scaled by
// 1 / sqrt(head_dim); the softmax is computed in fp32 with the max subtracted.
#ifndef TESSERA_ENGINE_CPU_PAGED_ATTENTION_H_
#define TESSERA_ENGINE_CPU_PAGED_ATTENTION_H_

#include <cstdint>
#include <vector>

#include "engine/cpu/cpu_kv_cache.h"
#include "engine/kv/page_table.h"

namespace tessera {

struct AttentionShape {
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t sliding_window = 0;  // 0 = full causal
};

// q, out: [num_tokens, num_heads * head_dim]; qo_indptr and num_cached as in StepPlan. The K/V of
// every fed position must already be in `cache` for `layer`.
void PagedAttention(const float* q, const std::vector<int32_t>& qo_indptr,
                    const std::vector<int64_t>& num_cached, const PageTable& pages,
                    const CpuKvCache& cache, int64_t layer, const AttentionShape& shape,
                    float* out);

}  // namespace tessera

#endif  // TESSERA_ENGINE_CPU_PAGED_ATTENTION_H_
