// Copy-on-write of paged KV blocks: for each (src, dst) pair of a step's plan, every layer's K and
// V of block src into block dst, all pairs and layers in one launch (not 2 * layers memcpys per
// pair).
//
// The cache holds the layers one after another, each in the layout of engine/kv/page_table.h:
// [num_layers][num_blocks][2][block_size][num_kv_heads][head_dim] bf16, so one block of one layer
// is block_elems = 2 * block_size * num_kv_heads * head_dim contiguous elements.
#ifndef TESSERA_ENGINE_CUDA_COPY_KV_BLOCKS_CUH_
#define TESSERA_ENGINE_CUDA_COPY_KV_BLOCKS_CUH_

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"

namespace tessera {

struct CopyKvBlocksArgs {
  __nv_bfloat16* kv_cache = nullptr;  // the whole cache, every layer
  // Device [2 * num_pairs]: src0, dst0, src1, dst1, ... No destination may be the source of
  // another pair (StepPlan::Validate ensures it), so the pairs are copied in parallel. Pairs with
  // an id outside [0, num_blocks) are skipped rather than written out of bounds; the host checks
  // the ids before they get here.
  const int32_t* pairs = nullptr;
  int32_t num_pairs = 0;
  int32_t num_layers = 0;
  int32_t num_blocks = 0;  // per layer
  int64_t block_elems = 0;
};

absl::Status LaunchCopyKvBlocks(const CopyKvBlocksArgs& args, cudaStream_t stream);

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_COPY_KV_BLOCKS_CUH_
