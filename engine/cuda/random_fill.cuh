// Uniform random bf16 values generated on the device from a counter-based hash: synthetic weights
// for benchmarks of model shapes that have no files (an 8B model never crosses the host).
#ifndef TESSERA_ENGINE_CUDA_RANDOM_FILL_CUH_
#define TESSERA_ENGINE_CUDA_RANDOM_FILL_CUH_

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"

namespace tessera {

// dst[i] = bf16(lo + (hi - lo) * u(seed, i)), u uniform in [0, 1).
absl::Status LaunchRandomFillBf16(__nv_bfloat16* dst, int64_t n, float lo, float hi, uint64_t seed,
                                  cudaStream_t stream);

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_RANDOM_FILL_CUH_
