// Block copies: blockIdx.y strides over (pair, layer) jobs, the x dimension of the grid over the
// block's elements in units of T (uint4: 16-byte accesses when the block and the cache base allow
// them; a single bf16 otherwise). Pure data movement: the copy is bit-exact.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "engine/cuda/copy_kv_blocks.cuh"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/vec_io.cuh"

namespace tessera {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxGridY = 65535;

template <typename T>
__global__ void __launch_bounds__(kThreads)
    CopyKvBlocksKernel(T* __restrict__ kv, const int32_t* __restrict__ pairs, int32_t num_pairs,
                       int32_t num_layers, int32_t num_blocks, int64_t block_units) {
  const int64_t num_jobs = static_cast<int64_t>(num_pairs) * num_layers;
  for (int64_t job = blockIdx.y; job < num_jobs; job += gridDim.y) {
    const int64_t pair = job / num_layers;
    const int64_t layer = job - pair * num_layers;
    const int32_t src = pairs[2 * pair], dst = pairs[2 * pair + 1];
    if (src < 0 || src >= num_blocks || dst < 0 || dst >= num_blocks) continue;
    const T* from = kv + (layer * num_blocks + src) * block_units;
    T* to = kv + (layer * num_blocks + dst) * block_units;
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < block_units;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
      to[i] = from[i];
    }
  }
}

}  // namespace

absl::Status LaunchCopyKvBlocks(const CopyKvBlocksArgs& a, cudaStream_t stream) {
  if (a.num_pairs < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("LaunchCopyKvBlocks: num_pairs must be >= 0, got ", a.num_pairs));
  }
  if (a.num_pairs == 0) return absl::OkStatus();
  if (a.num_layers <= 0 || a.num_blocks <= 0 || a.block_elems <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("LaunchCopyKvBlocks: num_layers (", a.num_layers, "), num_blocks (",
                     a.num_blocks, ") and block_elems (", a.block_elems, ") must be > 0"));
  }
  if (a.kv_cache == nullptr || a.pairs == nullptr) {
    return absl::InvalidArgumentError("LaunchCopyKvBlocks: kv_cache and pairs must be non-null");
  }
  // Every block starts at a multiple of block_elems from the base: 16-byte aligned when the base
  // is and block_elems is a multiple of 8 (always so for head_dim 64 or 128).
  const bool vec =
      a.block_elems % cuda_detail::kVecWidth == 0 && cuda_detail::Aligned16(a.kv_cache);
  const int64_t units = vec ? a.block_elems / cuda_detail::kVecWidth : a.block_elems;
  const int threads = cuda_detail::RoundUpToWarp(std::min<int64_t>(units, kThreads));
  const int64_t jobs = static_cast<int64_t>(a.num_pairs) * a.num_layers;
  const dim3 grid(static_cast<unsigned>((units + threads - 1) / threads),
                  static_cast<unsigned>(std::min<int64_t>(jobs, kMaxGridY)));
  if (vec) {
    CopyKvBlocksKernel<uint4><<<grid, threads, 0, stream>>>(reinterpret_cast<uint4*>(a.kv_cache),
                                                            a.pairs, a.num_pairs, a.num_layers,
                                                            a.num_blocks, units);
  } else {
    CopyKvBlocksKernel<__nv_bfloat16><<<grid, threads, 0, stream>>>(
        a.kv_cache, a.pairs, a.num_pairs, a.num_layers, a.num_blocks, units);
  }
  return CudaStatus(cudaGetLastError(), "CopyKvBlocksKernel launch");
}

}  // namespace tessera
