// y = x W^T for a packed quantized weight, choosing the kernel by the number of rows: up to
// kQuantGemvMaxRows the weight-streaming GEMV (decode: bound by reading the weights once), above
// it dequantize to a bf16 workspace and cuBLAS's bf16 GEMM (prefill: bound by the math, which
// tensor cores do best). The crossover is a constant until a device measures it (bench/
// engine_bench --quantization).
//
// Stateless; calls are ordered on the handle's stream.
#ifndef TESSERA_ENGINE_CUDA_QUANT_GEMM_H_
#define TESSERA_ENGINE_CUDA_QUANT_GEMM_H_

#include <cuda_bf16.h>

#include <cstdint>

#include "absl/status/status.h"
#include "engine/cuda/gemm.h"
#include "engine/cuda/quant_weight_view.h"

namespace tessera {

// The bf16 workspace the dequantize path needs for `w` (0 when every step stays on the GEMV).
inline int64_t QuantGemmWorkspaceElems(const QuantWeightView& w) {
  return w.out_features * w.in_features;
}

// y[num_rows, N] (bf16) = x[num_rows, K] W^T + beta y, beta 0 or 1 as Gemm's. `workspace` holds
// `workspace_elems` bf16 values (at least QuantGemmWorkspaceElems(w) when num_rows exceeds
// kQuantGemvMaxRows).
absl::Status QuantGemm(const CublasHandle& handle, const __nv_bfloat16* x, int64_t num_rows,
                       const QuantWeightView& w, __nv_bfloat16* y, float beta,
                       __nv_bfloat16* workspace, int64_t workspace_elems);

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_QUANT_GEMM_H_
