// Device helpers shared by the elementwise kernels: loads and stores of kWidth consecutive elements
// (kWidth 8: one 16-byte access for bf16, two for fp32; kWidth 1: scalar), converted to and from
// fp32 registers, and the host-side alignment test that picks between the two.
#ifndef TESSERA_ENGINE_CUDA_VEC_IO_CUH_
#define TESSERA_ENGINE_CUDA_VEC_IO_CUH_

#include <cuda_bf16.h>

#include <cstdint>

namespace tessera::cuda_detail {

// Elements per vector access on the vectorized path: 16 bytes of bf16.
inline constexpr int kVecWidth = 8;

// True when `p` may be accessed with 16-byte loads and stores (nullptr counts as aligned).
inline bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

inline int RoundUpToWarp(int64_t n) { return static_cast<int>((n + 31) / 32 * 32); }

template <int kWidth>
__device__ __forceinline__ void LoadBf16(const __nv_bfloat16* p, float (&v)[kWidth]) {
  if constexpr (kWidth == 8) {
    const uint4 raw = *reinterpret_cast<const uint4*>(p);
    const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const float2 f = __bfloat1622float2(h[k]);
      v[2 * k] = f.x;
      v[2 * k + 1] = f.y;
    }
  } else {
    static_assert(kWidth == 1);
    v[0] = __bfloat162float(*p);
  }
}

template <int kWidth>
__device__ __forceinline__ void StoreBf16(__nv_bfloat16* p, const float (&v)[kWidth]) {
  if constexpr (kWidth == 8) {
    uint4 raw;
    __nv_bfloat162* h = reinterpret_cast<__nv_bfloat162*>(&raw);
#pragma unroll
    for (int k = 0; k < 4; ++k) h[k] = __floats2bfloat162_rn(v[2 * k], v[2 * k + 1]);
    *reinterpret_cast<uint4*>(p) = raw;
  } else {
    static_assert(kWidth == 1);
    *p = __float2bfloat16_rn(v[0]);
  }
}

template <int kWidth>
__device__ __forceinline__ void LoadF32(const float* p, float (&v)[kWidth]) {
  if constexpr (kWidth == 8) {
    const float4 a = reinterpret_cast<const float4*>(p)[0];
    const float4 b = reinterpret_cast<const float4*>(p)[1];
    v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w;
    v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
  } else {
    static_assert(kWidth == 1);
    v[0] = *p;
  }
}

template <int kWidth>
__device__ __forceinline__ void StoreF32(float* p, const float (&v)[kWidth]) {
  if constexpr (kWidth == 8) {
    reinterpret_cast<float4*>(p)[0] = make_float4(v[0], v[1], v[2], v[3]);
    reinterpret_cast<float4*>(p)[1] = make_float4(v[4], v[5], v[6], v[7]);
  } else {
    static_assert(kWidth == 1);
    *p = v[0];
  }
}

}  // namespace tessera::cuda_detail

#endif  // TESSERA_ENGINE_CUDA_VEC_IO_CUH_
