// Element types of checkpoint tensors and their conversion to fp32.
//
// The CPU reference computes in fp32; checkpoints arrive as BF16, F16 or F32. Conversions are exact
// (every bf16/f16 value is representable in fp32), so the reference sees the checkpoint's values.
// Quantized checkpoints (engine/quant/) add packed I32 words, I64 shapes and FP8 E4M3 weights;
// those are never plain weights (Checkpoint::Get refuses them), only inputs to a format's unpacker.
#ifndef TESSERA_ENGINE_DTYPE_H_
#define TESSERA_ENGINE_DTYPE_H_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string_view>

namespace tessera {

enum class DType : uint8_t { kBF16, kF16, kF32, kI32, kI64, kF8E4M3 };

// Bytes per element.
constexpr size_t DTypeSize(DType t) {
  switch (t) {
    case DType::kF8E4M3:
      return 1;
    case DType::kBF16:
    case DType::kF16:
      return 2;
    case DType::kF32:
    case DType::kI32:
      return 4;
    case DType::kI64:
      return 8;
  }
  return 0;
}

// BF16, F16 and F32: the dtypes a plain (unquantized) weight may have.
constexpr bool IsFloatWeightDType(DType t) {
  return t == DType::kBF16 || t == DType::kF16 || t == DType::kF32;
}

// The safetensors spelling ("BF16", "F16", "F32", "I32", "I64", "F8_E4M3").
const char* DTypeName(DType t);

// Parses a safetensors dtype string; nullopt for anything tessera does not load.
std::optional<DType> ParseDType(std::string_view name);

inline float Bf16ToFloat(uint16_t bits) {
  uint32_t u = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// IEEE 754 binary16 -> binary32, subnormals, infinities and NaN included.
inline float F16ToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {  // inf / NaN
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {  // normal
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {  // signed zero
    bits = sign;
  } else {  // subnormal: normalize
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while ((mant & 0x400u) == 0);
    bits = sign | static_cast<uint32_t>(112 - e) << 23 | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// float8_e4m3fn -> fp32 (exact): 1 sign, 4 exponent bits (bias 7), 3 mantissa bits, subnormals, no
// infinities; 0x7F and 0xFF are NaN; the largest finite value is 448.
inline float Fp8E4M3ToFloat(uint8_t b) {
  const bool negative = (b & 0x80u) != 0;
  const uint32_t exp = (b >> 3) & 0xfu;
  const uint32_t mant = b & 0x7u;
  float v;
  if (exp == 0xf && mant == 0x7) {
    v = std::numeric_limits<float>::quiet_NaN();
  } else if (exp == 0) {
    v = std::ldexp(static_cast<float>(mant), -9);  // subnormal: mant * 2^-6 / 8
  } else {
    v = std::ldexp(static_cast<float>(8 + mant), static_cast<int>(exp) - 10);
  }
  return negative ? -v : v;
}

// Round-to-nearest-even fp32 -> FP8 E4M3 ("fn": no infinities, 0x7f/0xff are NaN), saturating at
// +-448 as on-load FP8 quantization wants (its scaled values reach 448 up to rounding); NaN -> NaN.
inline uint8_t FloatToFp8E4M3(float f) {
  const uint8_t sign = std::signbit(f) ? 0x80u : 0x00u;
  const float a = std::fabs(f);
  if (std::isnan(f)) return sign | 0x7fu;
  if (a >= 448.0f) return sign | 0x7eu;
  int e = 0;
  std::frexp(a, &e);  // a = m * 2^e with m in [0.5, 1): the leading bit is 2^(e-1)
  if (a == 0.0f || e - 1 < -6) {
    // Subnormal range: multiples of 2^-9; 8 of them is the smallest normal, code 0x08.
    const auto m = static_cast<uint32_t>(std::nearbyint(std::ldexp(a, 9)));
    return sign | static_cast<uint8_t>(m);
  }
  int exp = e - 1;
  auto m = static_cast<uint32_t>(std::nearbyint(std::ldexp(a, 3 - exp)));  // in [8, 16]
  if (m == 16) {
    m = 8;
    ++exp;
  }
  const auto code = static_cast<uint8_t>(((exp + 7) << 3) | (m - 8));
  return sign | (code == 0x7fu ? 0x7eu : code);  // 480 would be the NaN code: saturate
}

// Round-to-nearest-even fp32 -> bf16 (NaN stays NaN). Used by tests and synthetic weights.
inline uint16_t FloatToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

// Round-to-nearest-even fp32 -> IEEE binary16 (overflow to infinity, NaN stays NaN).
inline uint16_t FloatToF16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  const auto sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t abs = x & 0x7fffffffu;
  if (abs > 0x7f800000u) return sign | 0x7e00u;   // NaN
  if (abs >= 0x477ff000u) return sign | 0x7c00u;  // rounds past 65504: infinity
  if (abs < 0x38800000u) {                        // below 2^-14: f16 subnormal (or zero)
    float v;
    std::memcpy(&v, &abs, sizeof v);
    return sign | static_cast<uint16_t>(std::nearbyint(v * 16777216.0f));  // units of 2^-24
  }
  uint32_t h = ((((abs >> 23) - 112) << 10) | ((abs & 0x7fffffu) >> 13));
  const uint32_t rest = abs & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // a carry correctly bumps the exponent
  return static_cast<uint16_t>(sign | h);
}

// Converts `n` elements of type `t` at `src` (any alignment) to fp32. `t` is a float type (BF16,
// F16, F32 or F8_E4M3); integer types are not weights and convert to nothing.
void ConvertToFloat(DType t, const void* src, size_t n, float* dst);

}  // namespace tessera

#endif  // TESSERA_ENGINE_DTYPE_H_
