#include "engine/cpu/cpu_kv_cache.h"

#include <cstddef>

namespace tessera {

CpuKvCache::CpuKvCache(int64_t num_layers, int32_t num_blocks, int32_t block_size,
                       int64_t num_kv_heads, int64_t head_dim)
    : num_blocks_(num_blocks),
      block_size_(block_size),
      token_stride_(num_kv_heads * head_dim),
      data_(new float[static_cast<size_t>(num_layers) * num_blocks * 2 * block_size * num_kv_heads *
                      head_dim]) {}

}  // namespace tessera
