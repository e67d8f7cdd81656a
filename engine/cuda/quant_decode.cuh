// Device helpers the quantized-weight kernels share: one 16-byte vector of a packed row (the
// layout of engine/quant/packed_linear.h) decoded to fp32 weights with the reference's formula,
// (code - zero) * scale, e4m3(code) * scale or codebook[code] * scale, evaluated in fp32 in the
// same order as QuantizedLinear::Dequantize. Internal to engine/cuda/; included by .cu files only.
#ifndef TESSERA_ENGINE_CUDA_QUANT_DECODE_CUH_
#define TESSERA_ENGINE_CUDA_QUANT_DECODE_CUH_

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "engine/cuda/quant_weight_view.h"

namespace tessera::cuda_detail {

template <PackedKind kKind>
constexpr int kQuantCols = (kKind == PackedKind::kInt4 || kKind == PackedKind::kNf4) ? 32 : 16;

__device__ __forceinline__ float LoadQuantParam(const void* p, PackedParamType type, int64_t i) {
  switch (type) {
    case PackedParamType::kF16:
      return __half2float(static_cast<const __half*>(p)[i]);
    case PackedParamType::kBf16:
      return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    case PackedParamType::kF32:
      break;
  }
  return static_cast<const float*>(p)[i];
}

// float8_e4m3fn bits -> fp32, exactly (no NaN reaches here: the loaders refuse NaN codes).
__device__ __forceinline__ float Fp8E4M3ToFloatDevice(uint32_t b) {
  const uint32_t exp = (b >> 3) & 0xfu, mant = b & 0x7u;
  const float mag = exp == 0 ? static_cast<float>(mant) * 0.001953125f  // mant * 2^-9
                             : __uint_as_float(((exp + 120u) << 23) | (mant << 20));
  return (b & 0x80u) ? -mag : mag;
}

// Code of column c (0..31) of a 4-bit vector held as 4 words (nibble order kInt4Nibble).
__device__ __forceinline__ uint32_t Nibble(const uint32_t (&words)[4], int c) {
  const int w = c / 8, i = c % 8;
  const int nibble = (i % 2) * 4 + i / 2;  // kInt4Nibble: 0,4,1,5,2,6,3,7
  return (words[w] >> (4 * nibble)) & 0xfu;
}

// The fp32 weights of packed row `n`, packed columns [col0, col0 + kQuantCols) from `vec` (the 16
// bytes of the row at that column). Columns >= K decode to 0. `codebook` is NF4's (shared memory).
template <PackedKind kKind>
__device__ __forceinline__ void DecodeQuantVector(const QuantWeightView& w, int64_t n, int64_t col0,
                                                  const uint4& vec, const float* codebook,
                                                  float (&out)[kQuantCols<kKind>]) {
  const uint32_t words[4] = {vec.x, vec.y, vec.z, vec.w};
  constexpr int kCols = kQuantCols<kKind>;
  if constexpr (kKind == PackedKind::kNf4) {
#pragma unroll
    for (int c = 0; c < kCols; ++c) {
      const int64_t j = col0 + c;
      // NF4 has no perm: packed column j is input j; blocks run over the flat [N, K] tensor.
      const float s = j < w.in_features ? LoadQuantParam(w.scales, w.scale_type,
                                                         (n * w.in_features + j) / w.block_size)
                                        : 0.0f;
      out[c] = j < w.in_features ? codebook[Nibble(words, c)] * s : 0.0f;
    }
  } else {
    // The vector lies in one group (CheckQuantWeightView).
    const int64_t g = w.num_groups() == 1 ? 0 : col0 / w.group_size;
    const int64_t at = n * w.num_groups() + g;
    const float s = LoadQuantParam(w.scales, w.scale_type, at);
    const float z = kKind == PackedKind::kFp8 ? 0.0f : LoadQuantParam(w.zeros, w.zero_type, at);
    const uint8_t* bytes = reinterpret_cast<const uint8_t*>(words);
#pragma unroll
    for (int c = 0; c < kCols; ++c) {
      float v;
      if constexpr (kKind == PackedKind::kInt4) {
        v = (static_cast<float>(Nibble(words, c)) - z) * s;
      } else if constexpr (kKind == PackedKind::kInt8) {
        v = (static_cast<float>(bytes[c]) - z) * s;
      } else {
        v = Fp8E4M3ToFloatDevice(bytes[c]) * s;
      }
      out[c] = col0 + c < w.in_features ? v : 0.0f;
    }
  }
}

}  // namespace tessera::cuda_detail

#endif  // TESSERA_ENGINE_CUDA_QUANT_DECODE_CUH_
