// A grid-stride loop over (row, vector) pairs: consecutive threads read consecutive vectors of a
// row (coalesced 16-byte loads) and write their 16 or 32 bf16 weights; without a perm the writes
// are contiguous too.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/quant_decode.cuh"
#include "engine/cuda/quant_dequantize.cuh"

namespace tessera {
namespace {

using cuda_detail::kQuantCols;

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65535;

template <PackedKind kKind>
__global__ void __launch_bounds__(kThreads)
    QuantDequantizeKernel(QuantWeightView w, __nv_bfloat16* __restrict__ out) {
  __shared__ float codebook[16];
  if constexpr (kKind == PackedKind::kNf4) {
    if (threadIdx.x < 16) codebook[threadIdx.x] = w.codebook[threadIdx.x];
    __syncthreads();
  }
  constexpr int kCols = kQuantCols<kKind>;
  const int64_t vectors = w.row_bytes / 16;
  const int64_t total = w.out_features * vectors;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t n = i / vectors, v = i % vectors;
    const uint4 vec = reinterpret_cast<const uint4*>(w.codes + n * w.row_bytes)[v];
    float wv[kCols];
    cuda_detail::DecodeQuantVector<kKind>(w, n, v * kCols, vec, codebook, wv);
    __nv_bfloat16* row = out + n * w.in_features;
#pragma unroll
    for (int c = 0; c < kCols; ++c) {
      const int64_t j = v * kCols + c;
      if (j < w.in_features) row[w.perm != nullptr ? w.perm[j] : j] = __float2bfloat16(wv[c]);
    }
  }
}

}  // namespace

absl::Status LaunchQuantDequantize(const QuantWeightView& w, __nv_bfloat16* out, int64_t out_elems,
                                   cudaStream_t stream) {
  TESSERA_RETURN_IF_ERROR(CheckQuantWeightView(w, "LaunchQuantDequantize"));
  if (out == nullptr || out_elems < w.out_features * w.in_features) {
    return absl::InvalidArgumentError(
        absl::StrCat("LaunchQuantDequantize: the workspace holds ", out == nullptr ? 0 : out_elems,
                     " bf16 values, the weight needs ", w.out_features * w.in_features));
  }
  const int64_t work = w.out_features * (w.row_bytes / 16);
  const dim3 grid(static_cast<unsigned>(std::min(kMaxBlocks, (work + kThreads - 1) / kThreads)));
  switch (w.kind) {
    case PackedKind::kInt4:
      QuantDequantizeKernel<PackedKind::kInt4><<<grid, kThreads, 0, stream>>>(w, out);
      break;
    case PackedKind::kInt8:
      QuantDequantizeKernel<PackedKind::kInt8><<<grid, kThreads, 0, stream>>>(w, out);
      break;
    case PackedKind::kFp8:
      QuantDequantizeKernel<PackedKind::kFp8><<<grid, kThreads, 0, stream>>>(w, out);
      break;
    case PackedKind::kNf4:
      QuantDequantizeKernel<PackedKind::kNf4><<<grid, kThreads, 0, stream>>>(w, out);
      break;
  }
  return CudaStatus(cudaGetLastError(), "QuantDequantizeKernel launch");
}

}  // namespace tessera
