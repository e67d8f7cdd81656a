// The arguments both LoRA kernels take: one layer, one group of projections that share their
// input (q|k|v on the fused qkv output, gate|up on the fused gate_up output, o, down), a batch of
// token rows each with its own adapter slot.
#ifndef TESSERA_ENGINE_CUDA_LORA_ARGS_H_
#define TESSERA_ENGINE_CUDA_LORA_ARGS_H_

#include <cuda_bf16.h>

#include <cstdint>

#include "engine/cuda/lora_device_table.h"

namespace tessera {

inline constexpr int kMaxLoraGroup = 3;  // q, k and v share one input

// One projection of the group: which module's table entry it reads and where its output columns
// start in y.
struct LoraProjection {
  int32_t module = 0;  // LoraModule index
  int32_t out_features = 0;
  int64_t out_offset = 0;  // first column of this projection in each row of y
};

struct LoraGroupArgs {
  const LoraModuleDesc* table = nullptr;  // device, see LoraDescIndex
  int32_t num_layers = 0;
  int32_t layer = 0;
  int32_t num_projections = 0;  // 1..kMaxLoraGroup
  LoraProjection proj[kMaxLoraGroup];
  int32_t in_features = 0;
  const __nv_bfloat16* x = nullptr;  // [num_rows, x_stride], the first in_features used
  int64_t x_stride = 0;
  __nv_bfloat16* y = nullptr;  // [num_rows, y_stride]; y[t, off + o] += scale * (B (A x[t]))[o]
  int64_t y_stride = 0;
  int32_t num_rows = 0;
  const int32_t* row_slot = nullptr;  // device [num_rows]: the row's slot, or -1 (left alone)
  int32_t max_rank = 0;               // no entry's rank exceeds it (the engine's --max-lora-rank)
  // Device scratch of num_rows * kMaxLoraGroup * max_rank floats: the shrink's output.
  float* shrink = nullptr;
};

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_LORA_ARGS_H_
