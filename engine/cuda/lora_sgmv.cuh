// LoRA for prefill-shaped batches (SGMV-style): the rows form segments of consecutive rows with
// one adapter (a prompt chunk), and each segment is computed as small tiled matrix products, so an
// adapter's A and B are read once per tile of rows instead of once per row. Mixed ranks without
// padding; same result as the BGMV kernels up to summation order.
#ifndef TESSERA_ENGINE_CUDA_LORA_SGMV_CUH_
#define TESSERA_ENGINE_CUDA_LORA_SGMV_CUH_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"
#include "engine/cuda/lora_args.h"

namespace tessera {

struct LoraSegments {
  // Device [num_segments + 1]: segment i is rows [starts[i], starts[i + 1]) of the batch.
  const int32_t* starts = nullptr;
  const int32_t* slots = nullptr;  // device [num_segments]: the segment's slot (never -1)
  int32_t num_segments = 0;
  int32_t max_segment_rows = 0;  // host-known bound, sizes the grid
};

// Rows outside every segment are left alone (args.row_slot is not read).
absl::Status LaunchLoraSgmv(const LoraGroupArgs& args, const LoraSegments& segments,
                            cudaStream_t stream);

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_LORA_SGMV_CUH_
