// One thread block per copy run, 16-byte loads and stores (the runs are 16-byte aligned).
#include "absl/strings/str_cat.h"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/lora_scatter.cuh"

namespace tessera {
namespace {

constexpr int kThreads = 256;
constexpr int32_t kMaxGridX = 2147483647;

__global__ void __launch_bounds__(kThreads)
    LoraScatterKernel(const __nv_bfloat16* __restrict__ src, const LoraCopy* __restrict__ copies) {
  const LoraCopy c = copies[blockIdx.x];
  const uint4* from = reinterpret_cast<const uint4*>(src + c.src_offset);
  uint4* to = reinterpret_cast<uint4*>(c.dst);
  const int64_t n = c.count / 8;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) to[i] = from[i];
}

}  // namespace

absl::Status LaunchLoraScatter(const __nv_bfloat16* src, const LoraCopy* copies, int32_t num_copies,
                               cudaStream_t stream) {
  if (num_copies < 0 || num_copies > kMaxGridX) {
    return absl::InvalidArgumentError(
        absl::StrCat("LaunchLoraScatter: num_copies ", num_copies, " out of range"));
  }
  if (num_copies == 0) return absl::OkStatus();
  if (src == nullptr || copies == nullptr) {
    return absl::InvalidArgumentError("LaunchLoraScatter: null source or copy list");
  }
  LoraScatterKernel<<<num_copies, kThreads, 0, stream>>>(src, copies);
  return CudaStatus(cudaGetLastError(), "LoraScatterKernel launch");
}

}  // namespace tessera
