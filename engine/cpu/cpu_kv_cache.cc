#include "engine/cpu/cpu_kv_cache.h"

#include <cstddef>
#include <cstring>

namespace tessera {

CpuKvCache::CpuKvCache(int64_t num_layers, int32_t num_blocks, int32_t block_size,
                       int64_t num_kv_heads, int64_t head_dim)
    : num_layers_(num_layers),
      num_blocks_(num_blocks),
      block_size_(block_size),
      token_stride_(num_kv_heads * head_dim),
      num_floats_(static_cast<size_t>(num_layers) * num_blocks * 2 * block_size * num_kv_heads *
                  head_dim) {
  Allocate();
}

void CpuKvCache::Release() { data_.reset(); }

void CpuKvCache::Allocate() {
  if (data_ == nullptr) data_.reset(new float[num_floats_]);
}

void CpuKvCache::CopyBlock(int32_t src, int32_t dst) {
  // K and V of one block are contiguous within a layer: one copy per layer.
  const size_t floats = static_cast<size_t>(2) * block_size_ * token_stride_;
  for (int64_t l = 0; l < num_layers_; ++l) {
    std::memcpy(Slot(l, dst, 0, 0), Slot(l, src, 0, 0), floats * sizeof(float));
  }
}

}  // namespace tessera
