// Bias, RoPE and the paged-KV write, fused: one pass over the fused q|k|v GEMM output.
//
// For token t at positions[t]: q and k get their bias (when given) and are rotated in Hugging
// Face's rotate-half convention (angle = float(position) * inv_freq[i] in fp32, then cosf/sinf, as
// the CPU reference does); q goes to q_out, k and v to slot slots[t] of the layer's paged cache
// (block slots[t] / block_size, slot slots[t] % block_size; the layout of engine/kv/page_table.h).
// All arithmetic in fp32, rounded to bf16 once on store.
#ifndef TESSERA_ENGINE_CUDA_ROPE_KV_WRITE_CUH_
#define TESSERA_ENGINE_CUDA_ROPE_KV_WRITE_CUH_

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"

namespace tessera {

struct RopeKvWriteArgs {
  // [num_tokens, (num_heads + 2 * num_kv_heads) * head_dim]: q heads, then k heads, then v heads.
  const __nv_bfloat16* qkv = nullptr;
  const __nv_bfloat16* bias = nullptr;  // one row of the qkv layout, or nullptr
  const int32_t* positions = nullptr;   // [num_tokens]
  // [num_tokens]: block * block_size + slot; a negative slot (padding) writes q only, no K/V.
  const int32_t* slots = nullptr;
  const float* inv_freq = nullptr;  // [head_dim / 2]
  int32_t num_tokens = 0;
  int32_t num_heads = 0;
  int32_t num_kv_heads = 0;
  int32_t head_dim = 0;  // even; at most 256
  int32_t block_size = 0;
  __nv_bfloat16* q_out = nullptr;  // [num_tokens, num_heads * head_dim]
  __nv_bfloat16* kv_cache =
      nullptr;  // this layer: [num_blocks][2][block_size][num_kv_heads][head_dim]
};

absl::Status LaunchRopeKvWrite(const RopeKvWriteArgs& args, cudaStream_t stream);

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_ROPE_KV_WRITE_CUH_
