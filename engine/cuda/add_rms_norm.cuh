// Fused residual add + RMSNorm. The residual stream stays fp32 on the device; the normalized
// output feeds the next bf16 GEMM.
//
//   x[r] += float(delta[r])                      (when delta != nullptr)
//   out[r] = bf16(x[r] * rsqrt(mean(x[r]^2) + eps) * float(weight))
//
// With `rows` != nullptr (final norm before lm_head), output row r normalizes input row rows[r]
// and `delta` must be nullptr: only the positions that need logits are normalized.
#ifndef TESSERA_ENGINE_CUDA_ADD_RMS_NORM_CUH_
#define TESSERA_ENGINE_CUDA_ADD_RMS_NORM_CUH_

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"

namespace tessera {

// x: [*, hidden] fp32 (updated in place when delta is given); delta: [num_rows, hidden] bf16;
// weight: [hidden] bf16; out: [num_rows, hidden] bf16.
absl::Status LaunchAddRmsNorm(float* x, const __nv_bfloat16* delta, const int32_t* rows,
                              int32_t num_rows, int32_t hidden, const __nv_bfloat16* weight,
                              float eps, __nv_bfloat16* out, cudaStream_t stream);

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_ADD_RMS_NORM_CUH_
