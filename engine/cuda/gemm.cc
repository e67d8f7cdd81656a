#include "engine/cuda/gemm.h"

#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/cuda/cuda_status.h"

namespace tessera {

absl::Status CublasStatus(cublasStatus_t status, const char* what) {
  if (status == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": ", cublasGetStatusName(status), " (",
                                          cublasGetStatusString(status), ")"));
}

absl::StatusOr<CublasHandle> CublasHandle::Create(cudaStream_t stream) {
  CublasHandle h;
  if (absl::Status s = CublasStatus(cublasCreate(&h.handle_), "cublasCreate"); !s.ok()) return s;
  if (absl::Status s = CublasStatus(cublasSetStream(h.handle_, stream), "cublasSetStream");
      !s.ok()) {
    return s;
  }
  // An explicit workspace keeps cuBLAS from allocating behind the memory plan's back, and is what
  // lets its kernels be captured in CUDA graphs.
  TESSERA_CUDA_RETURN_IF_ERROR(cudaMalloc(&h.workspace_, kWorkspaceBytes));
  if (absl::Status s = CublasStatus(cublasSetWorkspace(h.handle_, h.workspace_, kWorkspaceBytes),
                                    "cublasSetWorkspace");
      !s.ok()) {
    return s;
  }
  return h;
}

CublasHandle::CublasHandle(CublasHandle&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)),
      workspace_(std::exchange(other.workspace_, nullptr)) {}

CublasHandle& CublasHandle::operator=(CublasHandle&& other) noexcept {
  if (this != &other) {
    Reset();
    handle_ = std::exchange(other.handle_, nullptr);
    workspace_ = std::exchange(other.workspace_, nullptr);
  }
  return *this;
}

CublasHandle::~CublasHandle() { Reset(); }

void CublasHandle::Reset() {
  if (handle_ != nullptr) cublasDestroy(handle_);
  if (workspace_ != nullptr) cudaFree(workspace_);
  handle_ = nullptr;
  workspace_ = nullptr;
}

absl::Status Gemm(const CublasHandle& handle, const __nv_bfloat16* x, int64_t num_rows,
                  const __nv_bfloat16* w, int64_t out_features, int64_t in_features, void* y,
                  GemmOutput out, float beta) {
  if (num_rows == 0) return absl::OkStatus();
  constexpr int64_t kMax = std::numeric_limits<int>::max();
  if (num_rows < 0 || out_features <= 0 || in_features <= 0 || num_rows > kMax ||
      out_features > kMax || in_features > kMax) {
    return absl::InvalidArgumentError(absl::StrCat("GEMM shape out of range: rows ", num_rows,
                                                   ", out ", out_features, ", in ", in_features));
  }
  const float alpha = 1.0f;
  const cudaDataType y_type = out == GemmOutput::kBf16 ? CUDA_R_16BF : CUDA_R_32F;
  // Column-major view: C (out x rows) = op(A) B with A = w seen as (in x out), transposed, and
  // B = x seen as (in x rows).
  return CublasStatus(
      cublasGemmEx(handle.get(), CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(out_features),
                   static_cast<int>(num_rows), static_cast<int>(in_features), &alpha, w,
                   CUDA_R_16BF, static_cast<int>(in_features), x, CUDA_R_16BF,
                   static_cast<int>(in_features), &beta, y, y_type, static_cast<int>(out_features),
                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
      "cublasGemmEx");
}

}  // namespace tessera
