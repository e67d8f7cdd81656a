// LoRA for decode-shaped batches (BGMV-style): each token row gathers its own adapter through
// row_slot, so one launch pair serves any mix of adapters and ranks without padding to the
// largest. Reads the slot of each row and the table from device memory only, so a CUDA graph
// captured once replays correctly after adapters are loaded or swapped.
//
// Two launches: shrink (h[t, p, r] = A_p[r, :] . x[t, :], fp32 accumulation) into args.shrink,
// then expand (y[t, off_p + o] += scale_p * sum_r B_p[o, r] h[t, p, r], rounded to bf16 once).
#ifndef TESSERA_ENGINE_CUDA_LORA_BGMV_CUH_
#define TESSERA_ENGINE_CUDA_LORA_BGMV_CUH_

#include <cuda_runtime_api.h>

#include "absl/status/status.h"
#include "engine/cuda/lora_args.h"

namespace tessera {

absl::Status LaunchLoraBgmv(const LoraGroupArgs& args, cudaStream_t stream);

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_LORA_BGMV_CUH_
