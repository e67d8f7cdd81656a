// One warp per output row: lane l reads the row's 16-byte vectors l, l + 32, ... (consecutive
// lanes, consecutive addresses), decodes each to 32 (4-bit) or 16 (8-bit) fp32 weights and
// multiplies them into every activation row of the tile; a warp shuffle reduces the partial sums.
// Activations come through the read-only cache (all warps of the grid read the same x); with an
// act-order perm they are gathered as x[perm[j]].
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/quant_decode.cuh"
#include "engine/cuda/quant_gemv.cuh"
#include "engine/memory_plan.h"

namespace tessera {

// The memory plan sizes the dequantize workspace without CUDA.
static_assert(kQuantGemvMaxRows == kCudaQuantGemvMaxRows);

namespace {

using cuda_detail::kQuantCols;

constexpr int kWarps = 4;  // rows per block
constexpr int kThreads = kWarps * 32;

template <PackedKind kKind, int kRows>
__global__ void __launch_bounds__(kThreads)
    QuantGemvKernel(QuantWeightView w, const __nv_bfloat16* __restrict__ x, int32_t num_rows,
                    __nv_bfloat16* __restrict__ y, float beta) {
  __shared__ float codebook[16];
  if constexpr (kKind == PackedKind::kNf4) {
    if (threadIdx.x < 16) codebook[threadIdx.x] = w.codebook[threadIdx.x];
    __syncthreads();
  }
  const int lane = threadIdx.x % 32;
  const int64_t n = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32;
  if (n >= w.out_features) return;
  const int64_t k = w.in_features;
  const int32_t rows = min(num_rows, kRows);
  const uint4* row = reinterpret_cast<const uint4*>(w.codes + n * w.row_bytes);
  const int64_t vectors = w.row_bytes / 16;
  constexpr int kCols = kQuantCols<kKind>;
  float acc[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) acc[r] = 0.0f;
  for (int64_t v = lane; v < vectors; v += 32) {
    // Streamed once: do not let the weights evict x from L1.
    const uint4 vec = __ldcs(row + v);
    const int64_t col0 = v * kCols;
    float wv[kCols];
    cuda_detail::DecodeQuantVector<kKind>(w, n, col0, vec, codebook, wv);
#pragma unroll
    for (int c = 0; c < kCols; ++c) {
      const int64_t j = col0 + c;
      if (j >= k) break;
      const int64_t col = w.perm != nullptr ? __ldg(w.perm + j) : j;
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        if (r < rows) acc[r] += wv[c] * __bfloat162float(__ldg(x + r * k + col));
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
#pragma unroll
    for (int off = 16; off > 0; off /= 2) acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], off);
  }
  if (lane == 0) {
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      if (r < rows) {
        __nv_bfloat16* out = y + r * w.out_features + n;
        const float prior = beta != 0.0f ? beta * __bfloat162float(*out) : 0.0f;
        *out = __float2bfloat16(acc[r] + prior);
      }
    }
  }
}

template <PackedKind kKind>
absl::Status LaunchTiles(const QuantWeightView& w, const __nv_bfloat16* x, int32_t num_rows,
                         __nv_bfloat16* y, float beta, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((w.out_features + kWarps - 1) / kWarps));
  for (int32_t r0 = 0; r0 < num_rows; r0 += kQuantGemvMaxRows) {
    const int32_t rows = std::min(num_rows - r0, kQuantGemvMaxRows);
    const __nv_bfloat16* xt = x + static_cast<int64_t>(r0) * w.in_features;
    __nv_bfloat16* yt = y + static_cast<int64_t>(r0) * w.out_features;
    if (rows == 1) {
      QuantGemvKernel<kKind, 1><<<grid, kThreads, 0, stream>>>(w, xt, rows, yt, beta);
    } else if (rows <= 4) {
      QuantGemvKernel<kKind, 4><<<grid, kThreads, 0, stream>>>(w, xt, rows, yt, beta);
    } else if (rows <= 8) {
      QuantGemvKernel<kKind, 8><<<grid, kThreads, 0, stream>>>(w, xt, rows, yt, beta);
    } else {
      QuantGemvKernel<kKind, kQuantGemvMaxRows>
          <<<grid, kThreads, 0, stream>>>(w, xt, rows, yt, beta);
    }
    TESSERA_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status LaunchQuantGemv(const QuantWeightView& w, const __nv_bfloat16* x, int32_t num_rows,
                             __nv_bfloat16* y, float beta, cudaStream_t stream) {
  TESSERA_RETURN_IF_ERROR(CheckQuantWeightView(w, "LaunchQuantGemv"));
  if (num_rows < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("LaunchQuantGemv: num_rows must be >= 0, got ", num_rows));
  }
  if (beta != 0.0f && beta != 1.0f) {
    return absl::InvalidArgumentError(
        absl::StrCat("LaunchQuantGemv: beta must be 0 or 1, got ", beta));
  }
  if (num_rows == 0) return absl::OkStatus();
  if (x == nullptr || y == nullptr) {
    return absl::InvalidArgumentError("LaunchQuantGemv: x and y must be non-null");
  }
  switch (w.kind) {
    case PackedKind::kInt4:
      return LaunchTiles<PackedKind::kInt4>(w, x, num_rows, y, beta, stream);
    case PackedKind::kInt8:
      return LaunchTiles<PackedKind::kInt8>(w, x, num_rows, y, beta, stream);
    case PackedKind::kFp8:
      return LaunchTiles<PackedKind::kFp8>(w, x, num_rows, y, beta, stream);
    case PackedKind::kNf4:
      return LaunchTiles<PackedKind::kNf4>(w, x, num_rows, y, beta, stream);
  }
  return absl::InvalidArgumentError("LaunchQuantGemv: unknown weight kind");
}

}  // namespace tessera
