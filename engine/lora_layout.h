// Where one LoRA adapter's rows go inside the KV blocks the scheduler lends it (unified paging).
//
// A KV block id names one chunk of `chunk_elems` bf16 values in every layer (the cache is
// [layers][blocks][chunk]); an adapter's layer-l rows are packed into the layer-l chunks of its
// blocks. Each row (A[r, :] or column r of B) stays whole inside one chunk and starts 8 values
// (16 bytes) aligned, so the kernels read it with vector loads; the adapter needs as many blocks
// as its fullest layer needs chunks. Plain arithmetic, tested without a GPU.
#ifndef TESSERA_ENGINE_LORA_LAYOUT_H_
#define TESSERA_ENGINE_LORA_LAYOUT_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/lora_weights.h"

namespace tessera {

inline constexpr int64_t kLoraRowAlign = 8;  // values (bf16): 16 bytes

struct LoraRowPlace {
  int32_t block = 0;   // index into the adapter's block list
  int64_t offset = 0;  // values from the start of that block's chunk in the row's layer
};

struct LoraLayout {
  int32_t num_blocks = 0;
  int64_t chunk_elems = 0;
  // Rows in order: layer, module (LoraModule order), A rows 0..rank-1, then B^T rows 0..rank-1;
  // modules of rank 0 have none.
  std::vector<LoraRowPlace> rows;
  // [layer * num_blocks + block]: values used at the start of that chunk (a multiple of
  // kLoraRowAlign), what a load must copy.
  std::vector<int64_t> used;
  int64_t total_used = 0;  // sum of `used`: the staged image's size in values
};

// InvalidArgument when a rank exceeds `max_rank` or a row is longer than a chunk (the message
// names the module and suggests a larger KV block size).
absl::StatusOr<LoraLayout> PlanLoraLayout(const LoraWeights& weights, int64_t chunk_elems,
                                          int32_t max_rank);

}  // namespace tessera

#endif  // TESSERA_ENGINE_LORA_LAYOUT_H_
