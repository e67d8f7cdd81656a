// Where the CUDA engine's LoRA adapters sit on the device, in the form the LoRA kernels read.
//
// Adapters live in blocks of the KV page pool (unified paging), so a matrix is not contiguous:
// it is stored as rank rows, each contiguous, found through a per-module array of row pointers.
// A is stored as its rows (A[r, :], in_features values each) and B as the rows of B^T (column r
// of B, out_features values each), so both the shrink and the expand read rows that are
// contiguous along the dimension the threads of a warp walk.
//
// One entry per (slot, layer, module), indexed (slot * num_layers + layer) * kNumLoraModules +
// module. The entries and row arrays are device memory at addresses fixed for the engine's life
// (CUDA graphs capture them); loading an adapter rewrites their contents.
#ifndef TESSERA_ENGINE_CUDA_LORA_DEVICE_TABLE_H_
#define TESSERA_ENGINE_CUDA_LORA_DEVICE_TABLE_H_

#include <cuda_bf16.h>

#include <cstdint>

namespace tessera {

struct LoraModuleDesc {
  int32_t rank = 0;  // 0: the slot leaves this module alone (or the slot is empty)
  float scale = 0;   // folded into the expand: y += scale * B (A x)
  // Device arrays of `rank` pointers: A row r (in_features bf16) and B^T row r (out_features bf16).
  const __nv_bfloat16* const* a_rows = nullptr;
  const __nv_bfloat16* const* b_rows = nullptr;
};

// constexpr so that the kernels call this same definition (nvcc --expt-relaxed-constexpr).
constexpr int64_t LoraDescIndex(int32_t slot, int32_t num_layers, int32_t layer, int32_t module) {
  return (int64_t{slot} * num_layers + layer) * 7 + module;
}

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_LORA_DEVICE_TABLE_H_
