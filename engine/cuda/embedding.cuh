// Embedding gather into the fp32 residual stream: x[t] = float(table[token_ids[t]]).
#ifndef TESSERA_ENGINE_CUDA_EMBEDDING_CUH_
#define TESSERA_ENGINE_CUDA_EMBEDDING_CUH_

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"

namespace tessera {

// table: [vocab, hidden] bf16; token_ids: [num_tokens] (already validated < vocab);
// x: [num_tokens, hidden] fp32.
absl::Status LaunchEmbedding(const __nv_bfloat16* table, const int32_t* token_ids,
                             int32_t num_tokens, int32_t hidden, float* x, cudaStream_t stream);

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_EMBEDDING_CUH_
