#include "engine/cuda/cuda_status.h"
#include "engine/cuda/random_fill.cuh"

namespace tessera {
namespace {

__device__ __forceinline__ uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

__global__ void RandomFillBf16Kernel(__nv_bfloat16* dst, int64_t n, float lo, float span,
                                     uint64_t seed) {
  const uint64_t key = Mix(seed);
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const float u = static_cast<float>(Mix(key ^ static_cast<uint64_t>(i)) >> 40) * 0x1.0p-24f;
    dst[i] = __float2bfloat16(lo + span * u);
  }
}

}  // namespace

absl::Status LaunchRandomFillBf16(__nv_bfloat16* dst, int64_t n, float lo, float hi, uint64_t seed,
                                  cudaStream_t stream) {
  if (n < 0) return absl::InvalidArgumentError("random fill: negative size");
  if (n == 0) return absl::OkStatus();
  constexpr int kThreads = 256;
  const int64_t blocks = std::min<int64_t>((n + kThreads - 1) / kThreads, 65536);
  RandomFillBf16Kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(dst, n, lo, hi - lo,
                                                                               seed);
  return CudaStatus(cudaGetLastError(), "RandomFillBf16Kernel");
}

}  // namespace tessera
