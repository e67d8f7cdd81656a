// Dequantizes a packed quantized weight into a bf16 [N, K] row-major workspace in the original
// input order (an act-order perm is undone while writing), for the large-batch path: cuBLAS's
// bf16 GEMM then reads it like any checkpoint weight. One thread per 16-byte vector of the packed
// rows; each weight is (code - zero) * scale in fp32, then rounded to bf16.
#ifndef TESSERA_ENGINE_CUDA_QUANT_DEQUANTIZE_CUH_
#define TESSERA_ENGINE_CUDA_QUANT_DEQUANTIZE_CUH_

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"
#include "engine/cuda/quant_weight_view.h"

namespace tessera {

// out: N * K bf16 (out_elems says how many it holds; fewer is InvalidArgument).
absl::Status LaunchQuantDequantize(const QuantWeightView& w, __nv_bfloat16* out, int64_t out_elems,
                                   cudaStream_t stream);

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_QUANT_DEQUANTIZE_CUH_
