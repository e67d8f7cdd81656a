// Host-side checks of LoraGroupArgs shared by the BGMV and SGMV launchers: they run before any
// CUDA call, so a malformed call fails with InvalidArgument and never reaches the device.
#ifndef TESSERA_ENGINE_CUDA_LORA_ARGS_CHECK_H_
#define TESSERA_ENGINE_CUDA_LORA_ARGS_CHECK_H_

#include "absl/status/status.h"
#include "engine/cuda/lora_args.h"

namespace tessera {

// The largest max_rank the LoRA kernels accept: their shared-memory staging of the shrink output
// and of the B^T row pointers is sized by max_rank and stays under the 48 KiB a kernel gets
// without opting in to more.
inline constexpr int32_t kMaxLoraKernelRank = 512;

// Shapes and pointers of `args` (row_slot excepted: only BGMV reads it). Sizes are checked for
// any num_rows; the device pointers only when num_rows > 0. Checks that the projections' column
// ranges in y are disjoint and inside y_stride, since the expand writes them concurrently.
absl::Status ValidateLoraGroupArgs(const LoraGroupArgs& args, const char* caller);

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_LORA_ARGS_CHECK_H_
