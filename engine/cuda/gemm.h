// bf16 GEMMs through cuBLAS, fp32 accumulation: the projections of every layer and the lm_head.
//
// Weights are row-major [out_features, in_features] as in the checkpoint, activations row-major
// [num_rows, in_features]; y = x W^T (+ beta y). In cuBLAS's column-major terms that is
// y^T = W x^T with W read transposed, so no weight is ever re-laid out.
#ifndef TESSERA_ENGINE_CUDA_GEMM_H_
#define TESSERA_ENGINE_CUDA_GEMM_H_

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tessera {

absl::Status CublasStatus(cublasStatus_t status, const char* what);

// Owns a cuBLAS handle bound to one stream, with its own workspace.
class CublasHandle {
 public:
  static absl::StatusOr<CublasHandle> Create(cudaStream_t stream);
  CublasHandle(CublasHandle&& other) noexcept;
  CublasHandle& operator=(CublasHandle&& other) noexcept;
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  ~CublasHandle();

  cublasHandle_t get() const { return handle_; }

  // Bytes of device memory the handle's workspace holds.
  static constexpr int64_t kWorkspaceBytes = int64_t{32} << 20;

 private:
  CublasHandle() = default;
  void Reset();
  cublasHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
};

enum class GemmOutput { kBf16, kF32 };

// y[num_rows, out_features] = x[num_rows, in_features] w[out_features, in_features]^T + beta y.
// `y` is bf16 or fp32 as `out` says. beta is 0 (overwrite) or 1 (accumulate, e.g. onto a bias
// broadcast into y).
absl::Status Gemm(const CublasHandle& handle, const __nv_bfloat16* x, int64_t num_rows,
                  const __nv_bfloat16* w, int64_t out_features, int64_t in_features, void* y,
                  GemmOutput out, float beta = 0.0f);

}  // namespace tessera

#endif  // TESSERA_ENGINE_CUDA_GEMM_H_
