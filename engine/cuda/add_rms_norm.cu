// Fused residual add + RMSNorm: one CTA per row (grid-stride over rows). Each thread owns
// kItems items of kWidth consecutive elements (kWidth 8: 16-byte accesses; 1: scalar fallback)
// and keeps the (x + delta) values in registers between the sum of squares and the normalized
// store, so x is read once and written once. Rows wider than the register cache covers
// (kItems == 0) re-read x for the second pass. Sum of squares in fp32: per-thread partials, warp
// shuffles, then one value per warp in shared memory.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/cuda/add_rms_norm.cuh"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/vec_io.cuh"

namespace tessera {
namespace {

using cuda_detail::kVecWidth;

constexpr int kMaxThreads = 512;
constexpr int kMaxGrid = 65535;

// Sum of `v` over the CTA, returned to every thread. blockDim.x is a multiple of 32. `scratch`
// holds one float per warp; it is free again when this returns.
__device__ __forceinline__ float BlockSum(float v, float* scratch) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  const int num_warps = blockDim.x / 32;
  float total = lane < num_warps ? scratch[lane] : 0.0f;
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    total += __shfl_xor_sync(0xffffffffu, total, offset);
  }
  __syncthreads();  // every warp has read scratch before the next row overwrites it
  return total;
}

// Loads x (plus delta, written back to x) for item i of the row; returns its sum of squares.
template <int kWidth>
__device__ __forceinline__ float LoadAddItem(float* __restrict__ xr,
                                             const __nv_bfloat16* __restrict__ dr, int32_t i,
                                             float (&v)[kWidth]) {
  const int64_t off = static_cast<int64_t>(i) * kWidth;
  cuda_detail::LoadF32<kWidth>(xr + off, v);
  if (dr != nullptr) {
    float d[kWidth];
    cuda_detail::LoadBf16<kWidth>(dr + off, d);
#pragma unroll
    for (int e = 0; e < kWidth; ++e) v[e] += d[e];
    cuda_detail::StoreF32<kWidth>(xr + off, v);
  }
  float ss = 0.0f;
#pragma unroll
  for (int e = 0; e < kWidth; ++e) ss += v[e] * v[e];
  return ss;
}

template <int kWidth>
__device__ __forceinline__ void NormStoreItem(const float (&v)[kWidth],
                                              const __nv_bfloat16* __restrict__ weight,
                                              float inv_rms, int32_t i,
                                              __nv_bfloat16* __restrict__ outr) {
  const int64_t off = static_cast<int64_t>(i) * kWidth;
  float w[kWidth], y[kWidth];
  cuda_detail::LoadBf16<kWidth>(weight + off, w);
#pragma unroll
  for (int e = 0; e < kWidth; ++e) y[e] = w[e] * (v[e] * inv_rms);
  cuda_detail::StoreBf16<kWidth>(outr + off, y);
}

template <int kWidth, int kItems>
__global__ void __launch_bounds__(kMaxThreads)
    AddRmsNormKernel(float* __restrict__ x, const __nv_bfloat16* __restrict__ delta,
                     const int32_t* __restrict__ rows, int32_t num_rows, int32_t hidden,
                     const __nv_bfloat16* __restrict__ weight, float eps,
                     __nv_bfloat16* __restrict__ out) {
  __shared__ float scratch[kMaxThreads / 32];
  const int32_t num_items = hidden / kWidth;
  for (int64_t r = blockIdx.x; r < num_rows; r += gridDim.x) {
    const int64_t in_row = rows != nullptr ? static_cast<int64_t>(rows[r]) : r;
    float* xr = x + in_row * hidden;
    const __nv_bfloat16* dr = delta != nullptr ? delta + r * hidden : nullptr;
    __nv_bfloat16* outr = out + r * hidden;
    float ss = 0.0f;
    if constexpr (kItems > 0) {
      float cache[kItems][kWidth];
#pragma unroll
      for (int k = 0; k < kItems; ++k) {
        const int32_t i = threadIdx.x + k * blockDim.x;
        if (i < num_items) ss += LoadAddItem<kWidth>(xr, dr, i, cache[k]);
      }
      const float inv_rms = rsqrtf(BlockSum(ss, scratch) / static_cast<float>(hidden) + eps);
#pragma unroll
      for (int k = 0; k < kItems; ++k) {
        const int32_t i = threadIdx.x + k * blockDim.x;
        if (i < num_items) NormStoreItem<kWidth>(cache[k], weight, inv_rms, i, outr);
      }
    } else {
      for (int32_t i = threadIdx.x; i < num_items; i += blockDim.x) {
        float v[kWidth];
        ss += LoadAddItem<kWidth>(xr, dr, i, v);
      }
      const float inv_rms = rsqrtf(BlockSum(ss, scratch) / static_cast<float>(hidden) + eps);
      // Each thread re-reads only the items it wrote itself, so no barrier is needed for x.
      for (int32_t i = threadIdx.x; i < num_items; i += blockDim.x) {
        float v[kWidth];
        cuda_detail::LoadF32<kWidth>(xr + static_cast<int64_t>(i) * kWidth, v);
        NormStoreItem<kWidth>(v, weight, inv_rms, i, outr);
      }
    }
  }
}

template <int kWidth, int kItems>
absl::Status Launch(int threads, float* x, const __nv_bfloat16* delta, const int32_t* rows,
                    int32_t num_rows, int32_t hidden, const __nv_bfloat16* weight, float eps,
                    __nv_bfloat16* out, cudaStream_t stream) {
  const int grid = std::min(num_rows, kMaxGrid);
  AddRmsNormKernel<kWidth, kItems>
      <<<grid, threads, 0, stream>>>(x, delta, rows, num_rows, hidden, weight, eps, out);
  return CudaStatus(cudaGetLastError(), "AddRmsNormKernel launch");
}

// Picks the register cache depth: the fewest items per thread with at most kMaxThreads threads.
template <int kWidth>
absl::Status LaunchWidth(float* x, const __nv_bfloat16* delta, const int32_t* rows,
                         int32_t num_rows, int32_t hidden, const __nv_bfloat16* weight, float eps,
                         __nv_bfloat16* out, cudaStream_t stream) {
  const int32_t num_items = hidden / kWidth;
  auto threads_for = [&](int items) {
    return cuda_detail::RoundUpToWarp((num_items + items - 1) / items);
  };
  if (num_items <= kMaxThreads) {
    return Launch<kWidth, 1>(threads_for(1), x, delta, rows, num_rows, hidden, weight, eps, out,
                             stream);
  }
  if (num_items <= 2 * kMaxThreads) {
    return Launch<kWidth, 2>(threads_for(2), x, delta, rows, num_rows, hidden, weight, eps, out,
                             stream);
  }
  if (num_items <= 4 * kMaxThreads) {
    return Launch<kWidth, 4>(threads_for(4), x, delta, rows, num_rows, hidden, weight, eps, out,
                             stream);
  }
  if (num_items <= 8 * kMaxThreads) {
    return Launch<kWidth, 8>(threads_for(8), x, delta, rows, num_rows, hidden, weight, eps, out,
                             stream);
  }
  return Launch<kWidth, 0>(kMaxThreads, x, delta, rows, num_rows, hidden, weight, eps, out, stream);
}

}  // namespace

absl::Status LaunchAddRmsNorm(float* x, const __nv_bfloat16* delta, const int32_t* rows,
                              int32_t num_rows, int32_t hidden, const __nv_bfloat16* weight,
                              float eps, __nv_bfloat16* out, cudaStream_t stream) {
  if (num_rows < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("LaunchAddRmsNorm: num_rows must be >= 0, got ", num_rows));
  }
  if (hidden <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("LaunchAddRmsNorm: hidden must be > 0, got ", hidden));
  }
  if (rows != nullptr && delta != nullptr) {
    return absl::InvalidArgumentError(
        "LaunchAddRmsNorm: rows (gather mode) requires delta == nullptr");
  }
  if (num_rows == 0) return absl::OkStatus();
  if (x == nullptr || weight == nullptr || out == nullptr) {
    return absl::InvalidArgumentError("LaunchAddRmsNorm: x, weight and out must be non-null");
  }
  const bool vec = hidden % kVecWidth == 0 && cuda_detail::Aligned16(x) &&
                   cuda_detail::Aligned16(delta) && cuda_detail::Aligned16(weight) &&
                   cuda_detail::Aligned16(out);
  if (vec) {
    return LaunchWidth<kVecWidth>(x, delta, rows, num_rows, hidden, weight, eps, out, stream);
  }
  return LaunchWidth<1>(x, delta, rows, num_rows, hidden, weight, eps, out, stream);
}

}  // namespace tessera
