#include "engine/cuda/quant_gemm.h"

#include <cublas_v2.h>

#include <limits>

#include "absl/strings/str_cat.h"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/quant_dequantize.cuh"
#include "engine/cuda/quant_gemv.cuh"

namespace tessera {

absl::Status QuantGemm(const CublasHandle& handle, const __nv_bfloat16* x, int64_t num_rows,
                       const QuantWeightView& w, __nv_bfloat16* y, float beta,
                       __nv_bfloat16* workspace, int64_t workspace_elems) {
  if (num_rows < 0 || num_rows > std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError(absl::StrCat("QuantGemm: num_rows ", num_rows));
  }
  cudaStream_t stream = nullptr;
  TESSERA_RETURN_IF_ERROR(CublasStatus(cublasGetStream(handle.get(), &stream), "cublasGetStream"));
  if (num_rows <= kQuantGemvMaxRows) {
    return LaunchQuantGemv(w, x, static_cast<int32_t>(num_rows), y, beta, stream);
  }
  TESSERA_RETURN_IF_ERROR(LaunchQuantDequantize(w, workspace, workspace_elems, stream));
  return Gemm(handle, x, num_rows, workspace, w.out_features, w.in_features, y, GemmOutput::kBf16,
              beta);
}

}  // namespace tessera
