// out[r, :] = row for every r < num_rows: a bias laid into a GEMM's output before the GEMM adds
// onto it (beta = 1), which is how the rare o_proj and MLP biases cost no extra pass.
#ifndef TESSERA_ENGINE_CUDA_BROADCAST_ROWS_CUH_
#define TESSERA_ENGINE_CUDA_BROADCAST_ROWS_CUH_

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"

namespace tessera {

absl::Status LaunchBroadcastRows(const __nv_bfloat16* row, int32_t num_rows, int32_t cols,
                                 __nv_bfloat16* out, cudaStream_t stream);

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_BROADCAST_ROWS_CUH_
