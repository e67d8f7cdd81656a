// How the CUDA engine splits the card: weights (fixed by the model), an activation workspace
// (fixed by the step token budget) and the KV page pool, which gets the rest of the share of device
// memory that --gpu-memory-utilization allows. Plain arithmetic, tested without a GPU.
#ifndef TESSERA_ENGINE_CUDA_MEMORY_PLAN_H_
#define TESSERA_ENGINE_CUDA_MEMORY_PLAN_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "engine/model_config.h"

namespace tessera {

struct MemoryPlanInputs {
  int64_t device_total_bytes = 0;  // cudaMemGetInfo's total
  int64_t device_free_bytes = 0;   // and free, before the engine allocates anything
  double gpu_memory_utilization = 0.9;
  int64_t weight_bytes = 0;
  int64_t workspace_bytes = 0;  // activations, attention and GEMM scratch, logits
  int64_t kv_bytes_per_block = 0;
  int32_t num_kv_blocks = 0;  // > 0: exactly this many (must fit), else all that fits
  int32_t min_kv_blocks = 1;  // fewer is an error: the engine could not hold one longest request
};

struct MemoryPlan {
  int64_t budget_bytes = 0;  // total * utilization
  int64_t weight_bytes = 0;
  int64_t workspace_bytes = 0;
  int64_t kv_bytes = 0;
  int32_t num_kv_blocks = 0;

  // One line for logs: "budget 71.2 GiB = weights 15.0 GiB + workspace 1.3 GiB + KV 54.9 GiB
  // (28110 blocks)".
  std::string ToString() const;
};

// The plan, or a ResourceExhausted error with the numbers when weights and workspace leave no room
// for min_kv_blocks, or when the budget exceeds what is free (another process holds the card).
absl::StatusOr<MemoryPlan> PlanDeviceMemory(const MemoryPlanInputs& in);

// Bytes of one KV block on the device (bf16 K and V of every layer).
int64_t CudaKvBytesPerBlock(const ModelConfig& config, int32_t block_size);

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_MEMORY_PLAN_H_
