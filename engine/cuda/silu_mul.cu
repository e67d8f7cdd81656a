// SwiGLU on the fused gate|up rows: blockIdx.y strides over tokens, the x dimension of the grid
// over the row in items of kWidth elements (kWidth 8: one 16-byte load each of gate and up and
// one 16-byte store; 1: scalar fallback). No index division on the hot path.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/silu_mul.cuh"
#include "engine/cuda/vec_io.cuh"

namespace tessera {
namespace {

using cuda_detail::kVecWidth;

constexpr int kThreads = 256;
constexpr int kMaxGridY = 65535;

template <int kWidth>
__global__ void __launch_bounds__(kThreads)
    SiluMulKernel(const __nv_bfloat16* __restrict__ gate_up, int32_t num_tokens,
                  int32_t intermediate, __nv_bfloat16* __restrict__ out) {
  const int32_t num_items = intermediate / kWidth;
  for (int64_t t = blockIdx.y; t < num_tokens; t += gridDim.y) {
    const __nv_bfloat16* gate = gate_up + t * 2 * intermediate;
    const __nv_bfloat16* up = gate + intermediate;
    __nv_bfloat16* o = out + t * intermediate;
    for (int32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < num_items;
         i += gridDim.x * blockDim.x) {
      const int64_t off = static_cast<int64_t>(i) * kWidth;
      float g[kWidth], u[kWidth], y[kWidth];
      cuda_detail::LoadBf16<kWidth>(gate + off, g);
      cuda_detail::LoadBf16<kWidth>(up + off, u);
#pragma unroll
      for (int e = 0; e < kWidth; ++e) y[e] = g[e] / (1.0f + expf(-g[e])) * u[e];
      cuda_detail::StoreBf16<kWidth>(o + off, y);
    }
  }
}

}  // namespace

absl::Status LaunchSiluMul(const __nv_bfloat16* gate_up, int32_t num_tokens, int32_t intermediate,
                           __nv_bfloat16* out, cudaStream_t stream) {
  if (num_tokens < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("LaunchSiluMul: num_tokens must be >= 0, got ", num_tokens));
  }
  if (intermediate <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("LaunchSiluMul: intermediate must be > 0, got ", intermediate));
  }
  if (num_tokens == 0) return absl::OkStatus();
  if (gate_up == nullptr || out == nullptr) {
    return absl::InvalidArgumentError("LaunchSiluMul: gate_up and out must be non-null");
  }
  // gate rows start at multiples of 2 * intermediate, up halves and out rows at multiples of
  // intermediate: all 16-byte aligned when intermediate is a multiple of 8 and the bases are.
  const bool vec = intermediate % kVecWidth == 0 && cuda_detail::Aligned16(gate_up) &&
                   cuda_detail::Aligned16(out);
  const int32_t num_items = vec ? intermediate / kVecWidth : intermediate;
  const int threads = cuda_detail::RoundUpToWarp(std::min(num_items, kThreads));
  const dim3 grid((num_items + threads - 1) / threads, std::min(num_tokens, kMaxGridY));
  if (vec) {
    SiluMulKernel<kVecWidth><<<grid, threads, 0, stream>>>(gate_up, num_tokens, intermediate, out);
  } else {
    SiluMulKernel<1><<<grid, threads, 0, stream>>>(gate_up, num_tokens, intermediate, out);
  }
  return CudaStatus(cudaGetLastError(), "SiluMulKernel launch");
}

}  // namespace tessera
