// SwiGLU activation on the fused gate|up GEMM output: out[t, i] = silu(g) * u, in fp32, with
// g = gate_up[t, i] and u = gate_up[t, intermediate + i].
#ifndef TESSERA_ENGINE_CUDA_SILU_MUL_CUH_
#define TESSERA_ENGINE_CUDA_SILU_MUL_CUH_

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"

namespace tessera {

// gate_up: [num_tokens, 2 * intermediate] bf16; out: [num_tokens, intermediate] bf16.
absl::Status LaunchSiluMul(const __nv_bfloat16* gate_up, int32_t num_tokens, int32_t intermediate,
                           __nv_bfloat16* out, cudaStream_t stream);

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_SILU_MUL_CUH_
