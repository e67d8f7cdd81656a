#include "absl/strings/str_cat.h"
#include "engine/cuda/broadcast_rows.cuh"
#include "engine/cuda/cuda_status.h"

namespace tessera {
namespace {

__global__ void BroadcastRowsKernel(const __nv_bfloat16* row, int64_t total, int32_t cols,
                                    __nv_bfloat16* out) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    out[i] = row[i % cols];
  }
}

}  // namespace

absl::Status LaunchBroadcastRows(const __nv_bfloat16* row, int32_t num_rows, int32_t cols,
                                 __nv_bfloat16* out, cudaStream_t stream) {
  if (num_rows < 0 || cols <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("broadcast rows: bad shape ", num_rows, " x ", cols));
  }
  const int64_t total = int64_t{num_rows} * cols;
  if (total == 0) return absl::OkStatus();
  constexpr int kThreads = 256;
  const int64_t blocks = std::min<int64_t>((total + kThreads - 1) / kThreads, 65536);
  BroadcastRowsKernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(row, total, cols,
                                                                              out);
  return CudaStatus(cudaGetLastError(), "BroadcastRowsKernel");
}

}  // namespace tessera
