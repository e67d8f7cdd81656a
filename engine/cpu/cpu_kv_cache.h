// Paged K/V storage for the CPU backend, in the layout of engine/kv/page_table.h:
// per layer, per block [2][block_size][num_kv_heads][head_dim] fp32.
//
// Owns memory only; which blocks a sequence uses is the block manager's business.
#ifndef TESSERA_ENGINE_CPU_CPU_KV_CACHE_H_
#define TESSERA_ENGINE_CPU_CPU_KV_CACHE_H_

#include <cstdint>
#include <memory>

namespace tessera {

class CpuKvCache {
 public:
  CpuKvCache(int64_t num_layers, int32_t num_blocks, int32_t block_size, int64_t num_kv_heads,
             int64_t head_dim);

  CpuKvCache(const CpuKvCache&) = delete;
  CpuKvCache& operator=(const CpuKvCache&) = delete;

  // K (kv = 0) or V (kv = 1) of all KV heads for one token slot: num_kv_heads * head_dim floats.
  float* Slot(int64_t layer, int32_t block, int32_t kv, int32_t slot) {
    return data_.get() + Offset(layer, block, kv, slot);
  }
  const float* Slot(int64_t layer, int32_t block, int32_t kv, int32_t slot) const {
    return data_.get() + Offset(layer, block, kv, slot);
  }

  // Every layer's K and V of block `src` into block `dst` (copy-on-write of a shared block);
  // slots not yet written are copied as they are.
  void CopyBlock(int32_t src, int32_t dst);

  // Sleep mode: Release returns the storage to the OS (Slot must not be called until Allocate);
  // Allocate takes fresh, uninitialized storage of the same geometry. Both are no-ops when the
  // storage is already in that state.
  void Release();
  void Allocate();
  bool allocated() const { return data_ != nullptr; }

  int32_t num_blocks() const { return num_blocks_; }
  int32_t block_size() const { return block_size_; }
  static int64_t BytesPerBlock(int64_t num_layers, int32_t block_size, int64_t num_kv_heads,
                               int64_t head_dim) {
    return num_layers * 2 * block_size * num_kv_heads * head_dim *
           static_cast<int64_t>(sizeof(float));
  }

 private:
  int64_t Offset(int64_t layer, int32_t block, int32_t kv, int32_t slot) const {
    return (((layer * num_blocks_ + block) * 2 + kv) * block_size_ + slot) * token_stride_;
  }

  int64_t num_layers_;
  int32_t num_blocks_;
  int32_t block_size_;
  int64_t token_stride_;  // num_kv_heads * head_dim
  size_t num_floats_;
  // Left uninitialized: a slot is always written before attention reads it, and the pages of a
  // large cache are then only touched as sequences reach them.
  std::unique_ptr<float[]> data_;
};

}  // namespace tessera

#endif  // TESSERA_ENGINE_CPU_CPU_KV_CACHE_H_
