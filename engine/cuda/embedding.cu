// Embedding gather: one CTA per token (grid-stride over tokens), its threads striding the row in
// 16-byte bf16 loads (two 16-byte fp32 stores each) when the row width and pointers allow, one
// element at a time otherwise.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/embedding.cuh"
#include "engine/cuda/vec_io.cuh"

namespace tessera {
namespace {

using cuda_detail::kVecWidth;

constexpr int kMaxThreads = 256;
constexpr int kMaxGrid = 65535;

template <int kWidth>
__global__ void __launch_bounds__(kMaxThreads)
    EmbeddingKernel(const __nv_bfloat16* __restrict__ table, const int32_t* __restrict__ token_ids,
                    int32_t num_tokens, int32_t hidden, float* __restrict__ x) {
  const int32_t num_items = hidden / kWidth;
  for (int64_t t = blockIdx.x; t < num_tokens; t += gridDim.x) {
    const __nv_bfloat16* src = table + static_cast<int64_t>(token_ids[t]) * hidden;
    float* dst = x + t * hidden;
    for (int32_t i = threadIdx.x; i < num_items; i += blockDim.x) {
      float v[kWidth];
      cuda_detail::LoadBf16<kWidth>(src + static_cast<int64_t>(i) * kWidth, v);
      cuda_detail::StoreF32<kWidth>(dst + static_cast<int64_t>(i) * kWidth, v);
    }
  }
}

}  // namespace

absl::Status LaunchEmbedding(const __nv_bfloat16* table, const int32_t* token_ids,
                             int32_t num_tokens, int32_t hidden, float* x, cudaStream_t stream) {
  if (num_tokens < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("LaunchEmbedding: num_tokens must be >= 0, got ", num_tokens));
  }
  if (hidden <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("LaunchEmbedding: hidden must be > 0, got ", hidden));
  }
  if (num_tokens == 0) return absl::OkStatus();
  if (table == nullptr || token_ids == nullptr || x == nullptr) {
    return absl::InvalidArgumentError("LaunchEmbedding: table, token_ids and x must be non-null");
  }
  // Row starts stay 16-byte aligned when the row width is a multiple of 8 elements (16 bytes of
  // bf16, 32 of fp32) and the bases are.
  const bool vec =
      hidden % kVecWidth == 0 && cuda_detail::Aligned16(table) && cuda_detail::Aligned16(x);
  const int32_t num_items = vec ? hidden / kVecWidth : hidden;
  const int threads = cuda_detail::RoundUpToWarp(std::min(num_items, kMaxThreads));
  const int grid = std::min(num_tokens, kMaxGrid);
  if (vec) {
    EmbeddingKernel<kVecWidth>
        <<<grid, threads, 0, stream>>>(table, token_ids, num_tokens, hidden, x);
  } else {
    EmbeddingKernel<1><<<grid, threads, 0, stream>>>(table, token_ids, num_tokens, hidden, x);
  }
  return CudaStatus(cudaGetLastError(), "EmbeddingKernel launch");
}

}  // namespace tessera
