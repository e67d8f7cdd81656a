// The CUDA engine's LoRA adapter slots: each slot's adapter lives in KV blocks the scheduler lends
// it (unified paging, see lora_layout.h), found by the kernels through a device table of row
// pointers (lora_device_table.h).
//
// Loads are asynchronous: Set converts the adapter to bf16 into a pinned, device-mapped staging
// buffer, then queues one scatter kernel and the table update on a copy stream of its own and
// returns; the compute stream waits (on the device, not the host) for a slot's load only in the
// first step that uses it (BeforeStep). The host waits only when a load is set while the previous
// one still reads the staging buffer.
//
// Not thread-safe (the engine's caller, the scheduler thread).
#ifndef TESSERA_ENGINE_CUDA_DEVICE_LORA_POOL_H_
#define TESSERA_ENGINE_CUDA_DEVICE_LORA_POOL_H_

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/device_buffer.h"
#include "engine/cuda/lora_device_table.h"
#include "engine/lora_layout.h"
#include "engine/lora_weights.h"
#include "engine/model_config.h"

namespace tessera {

// The KV pool as the adapter loads see it: [num_layers][num_blocks][chunk_elems] bf16.
struct KvPoolView {
  __nv_bfloat16* base = nullptr;
  int32_t num_layers = 0;
  int32_t num_blocks = 0;
  int64_t chunk_elems = 0;
};

class DeviceLoraPool {
 public:
  // Device bytes of the tables and the shrink scratch for `max_rows` token rows per step.
  static int64_t DeviceBytes(const ModelConfig& config, int32_t num_slots, int32_t max_rank,
                             int32_t max_rows);
  static absl::StatusOr<std::unique_ptr<DeviceLoraPool>> Create(const ModelConfig& config,
                                                                int32_t num_slots, int32_t max_rank,
                                                                int32_t max_rows, KvPoolView kv);
  ~DeviceLoraPool();
  DeviceLoraPool(const DeviceLoraPool&) = delete;
  DeviceLoraPool& operator=(const DeviceLoraPool&) = delete;

  int32_t num_slots() const { return static_cast<int32_t>(weights_.size()); }
  int32_t max_rank() const { return max_rank_; }
  bool filled(int32_t slot) const { return weights_[slot] != nullptr; }

  // KV blocks `weights` needs; InvalidArgument for shapes that do not match the model, a rank
  // over max_rank or rows longer than a chunk.
  absl::StatusOr<int32_t> BlocksFor(const LoraWeights& weights) const;
  // Fills (or with null, empties) `slot` from `blocks` (exactly BlocksFor ids in range). The
  // copy starts after the work queued on `compute` so far (the blocks may have held KV).
  absl::Status Set(int32_t slot, std::shared_ptr<const LoraWeights> weights,
                   absl::Span<const int32_t> blocks, cudaStream_t compute);
  // Orders `compute` after the loads of the slots a step uses, and after any load whose slot was
  // changed again before it finished (its blocks may go back to the KV cache).
  absl::Status BeforeStep(absl::Span<const int32_t> used_slots, cudaStream_t compute);

  // Blocks until every queued load has finished.
  absl::Status Synchronize() {
    return CudaStatus(cudaStreamSynchronize(copy_), "cudaStreamSynchronize (adapter loads)");
  }

  const LoraModuleDesc* table() const { return descs_.data(); }
  float* shrink() { return shrink_.data(); }

 private:
  DeviceLoraPool(const ModelConfig& config, int32_t num_slots, int32_t max_rank, KvPoolView kv);
  absl::Status Init(int32_t max_rows);
  // One load staged in the pinned buffer: the bf16 image, then the copy list, the slot's
  // descriptors and row pointers.
  struct StagedLoad {
    int64_t image_bytes = 0;  // where the copy list starts
    int32_t num_copies = 0;
    LoraModuleDesc* descs = nullptr;
    int64_t descs_bytes = 0;
    const __nv_bfloat16** rows = nullptr;
    int64_t rows_bytes = 0;
  };
  // Set's three steps. Layout: where each adapter row goes in `blocks` (checks shapes and blocks).
  absl::StatusOr<LoraLayout> LayoutFor(int32_t slot, const LoraWeights& weights,
                                       absl::Span<const int32_t> blocks) const;
  // Convert: fp32 -> bf16 into the staging buffer, with the copy list, descriptors and row
  // pointers (waits for the previous load to release the buffer).
  absl::StatusOr<StagedLoad> Convert(int32_t slot, const LoraWeights& weights,
                                     const LoraLayout& layout, absl::Span<const int32_t> blocks);
  // Enqueue: on the copy stream after `compute`'s work so far, the scatter kernel and the table
  // update; marks the load.
  absl::Status Enqueue(int32_t slot, const StagedLoad& staged, cudaStream_t compute);
  // Set with null weights: clears the slot's descriptors (on the copy stream).
  absl::Status EmptySlot(int32_t slot, absl::Span<const int32_t> blocks);
  // Grows the staging buffer to `bytes`; the caller has waited for the last load.
  absl::Status ReserveStaging(int64_t bytes);
  // Marks `slot`'s load queued on the copy stream.
  absl::Status RecordLoad(int32_t slot);

  ModelConfig config_;
  int32_t max_rank_;
  KvPoolView kv_;
  cudaStream_t copy_ = nullptr;
  cudaEvent_t compute_mark_ = nullptr;  // the compute stream's work before a load
  cudaEvent_t last_load_ = nullptr;
  bool any_load_ = false;
  bool hazard_ = false;  // a slot was changed while its load was still queued
  std::vector<cudaEvent_t> ready_;
  std::vector<bool> pending_;
  std::vector<std::shared_ptr<const LoraWeights>> weights_;
  DeviceBuffer<LoraModuleDesc> descs_;               // [slots][layers][modules]
  DeviceBuffer<const __nv_bfloat16*> row_pointers_;  // [slots][layers][modules][2][max_rank]
  DeviceBuffer<float> shrink_;
  char* staging_ = nullptr;         // pinned, mapped
  char* staging_device_ = nullptr;  // the same memory as the device addresses it
  int64_t staging_bytes_ = 0;
};

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_DEVICE_LORA_POOL_H_
