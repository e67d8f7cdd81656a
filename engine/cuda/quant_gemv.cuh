// Weight-streaming GEMV / skinny GEMM for quantized weights (W4A16, W8A16, FP8, NF4): the decode
// path, where a step is bound by reading the weights. Each warp streams one packed row with
// 128-bit loads, decodes it once in registers and applies it to up to kQuantGemvMaxRows
// activation rows (bf16 in, fp32 accumulation), so every weight byte is read once per step for
// batches up to that size; larger batches run in tiles of that many rows (QuantGemm sends them to
// the dequantize + cuBLAS path instead).
#ifndef TESSERA_ENGINE_CUDA_QUANT_GEMV_CUH_
#define TESSERA_ENGINE_CUDA_QUANT_GEMV_CUH_

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"
#include "engine/cuda/quant_weight_view.h"

namespace tessera {

inline constexpr int32_t kQuantGemvMaxRows = 16;

// y[num_rows, N] = x[num_rows, K] W^T + beta y (beta 0: y is not read, so it may hold garbage).
// x and y are row-major and contiguous. InvalidArgument for bad arguments (named).
absl::Status LaunchQuantGemv(const QuantWeightView& w, const __nv_bfloat16* x, int32_t num_rows,
                             __nv_bfloat16* y, float beta, cudaStream_t stream);

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_QUANT_GEMV_CUH_
