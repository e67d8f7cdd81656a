// Device helpers shared by the BGMV and SGMV LoRA kernels: the table lookup of a projection's
// adapter entry, read-only loads of bf16 weights and activations (16-byte vector or scalar), and
// the per-projection alignment test that picks the vectorized path for y.
#ifndef TESSERA_ENGINE_CUDA_LORA_KERNEL_UTIL_CUH_
#define TESSERA_ENGINE_CUDA_LORA_KERNEL_UTIL_CUH_

#include <cuda_bf16.h>

#include <cstdint>

#include "engine/cuda/lora_args.h"
#include "engine/cuda/lora_device_table.h"
#include "engine/cuda/vec_io.cuh"

namespace tessera::lora_detail {

using cuda_detail::kVecWidth;

// Picks proj[p] without indexing the kernel-parameter array at a runtime index (which would make
// nvcc copy the whole argument struct to local memory).
__device__ __forceinline__ LoraProjection ProjectionAt(const LoraGroupArgs& args, int p) {
  return p == 0 ? args.proj[0] : (p == 1 ? args.proj[1] : args.proj[2]);
}

// The table entry of projection p for `slot` in this layer. The rank is clamped to max_rank so a
// corrupt entry cannot index the shrink scratch out of bounds (it yields a wrong delta instead).
__device__ __forceinline__ LoraModuleDesc LoadModuleDesc(const LoraGroupArgs& args, int32_t slot,
                                                         int p) {
  LoraModuleDesc desc =
      args.table[LoraDescIndex(slot, args.num_layers, args.layer, ProjectionAt(args, p).module)];
  desc.rank = min(desc.rank, args.max_rank);
  return desc;
}

__device__ __forceinline__ bool IsAligned16(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) & 15) == 0;
}

// Eight consecutive bf16 through the read-only path as fp32; p must be 16-byte aligned.
__device__ __forceinline__ void LoadBf16x8ReadOnly(const __nv_bfloat16* p, float (&v)[8]) {
  const uint4 raw = __ldg(reinterpret_cast<const uint4*>(p));
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const float2 f = __bfloat1622float2(h[k]);
    v[2 * k] = f.x;
    v[2 * k + 1] = f.y;
  }
}

__device__ __forceinline__ float LoadBf16ReadOnly(const __nv_bfloat16* p) {
  return __bfloat162float(__ldg(p));
}

// y[0 .. 8) += scale * acc in fp32, rounded to bf16 once; y must be 16-byte aligned.
__device__ __forceinline__ void AddScaledBf16x8(__nv_bfloat16* y, float scale,
                                                const float (&acc)[8]) {
  float v[8];
  cuda_detail::LoadBf16<8>(y, v);
#pragma unroll
  for (int e = 0; e < 8; ++e) v[e] = fmaf(scale, acc[e], v[e]);
  cuda_detail::StoreBf16<8>(y, v);
}

// y[0] += scale * acc in fp32, rounded to bf16 once.
__device__ __forceinline__ void AddScaledBf16(__nv_bfloat16* y, float scale, float acc) {
  *y = __float2bfloat16_rn(fmaf(scale, acc, __bfloat162float(*y)));
}

}  // namespace tessera::lora_detail

#endif  // TESSERA_ENGINE_CUDA_LORA_KERNEL_UTIL_CUH_
