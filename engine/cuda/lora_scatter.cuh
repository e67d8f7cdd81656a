// Copies a staged LoRA adapter image from pinned, device-mapped host memory into the chunks of its
// KV blocks in one launch: the GPU reads the host buffer over the bus itself, so a load with
// hundreds of scattered chunks costs one launch instead of hundreds of cudaMemcpyAsync calls.
#ifndef TESSERA_ENGINE_CUDA_LORA_SCATTER_CUH_
#define TESSERA_ENGINE_CUDA_LORA_SCATTER_CUH_

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"

namespace tessera {

// One contiguous run: `count` values from src + src_offset to dst. Offsets, counts and dst are
// multiples of 8 values (16 bytes), as the adapter layout guarantees.
struct LoraCopy {
  int64_t src_offset = 0;
  int64_t count = 0;
  __nv_bfloat16* dst = nullptr;
};

// `src` and `copies` are device pointers to mapped host memory (cudaHostGetDevicePointer).
absl::Status LaunchLoraScatter(const __nv_bfloat16* src, const LoraCopy* copies, int32_t num_copies,
                               cudaStream_t stream);

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_LORA_SCATTER_CUH_
