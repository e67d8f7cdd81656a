#include "engine/dtype.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessera {
namespace {

using ::testing::ElementsAre;

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

float FromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// binary16 decoded from its definition, independently of F16ToFloat's bit manipulation.
double ReferenceF16(uint16_t h) {
  const int sign = (h & 0x8000) ? -1 : 1;
  const int exp = (h >> 10) & 0x1f;
  const int mant = h & 0x3ff;
  if (exp == 0x1f) {
    return mant == 0 ? sign * std::numeric_limits<double>::infinity()
                     : std::numeric_limits<double>::quiet_NaN();
  }
  if (exp == 0) return sign * std::ldexp(mant, -24);
  return sign * std::ldexp(1024 + mant, exp - 25);
}

TEST(DTypeTest, F16Normals) {
  EXPECT_EQ(F16ToFloat(0x3c00), 1.0f);
  EXPECT_EQ(F16ToFloat(0xc000), -2.0f);
  EXPECT_EQ(F16ToFloat(0x3555), 0.333251953125f);
  EXPECT_EQ(F16ToFloat(0x3c01), 1.0f + 0x1p-10f);
  EXPECT_EQ(F16ToFloat(0x0400), 0x1p-14f);  // smallest normal
  EXPECT_EQ(F16ToFloat(0x7bff), 65504.0f);  // largest finite
  EXPECT_EQ(F16ToFloat(0xfbff), -65504.0f);
}

TEST(DTypeTest, F16Subnormals) {
  EXPECT_EQ(F16ToFloat(0x0001), 0x1p-24f);
  EXPECT_EQ(F16ToFloat(0x8001), -0x1p-24f);
  EXPECT_EQ(F16ToFloat(0x0002), 0x1p-23f);
  EXPECT_EQ(F16ToFloat(0x0200), 0x1p-15f);
  EXPECT_EQ(F16ToFloat(0x03ff), 1023 * 0x1p-24f);  // largest subnormal
}

TEST(DTypeTest, F16ZerosInfinitiesNaN) {
  EXPECT_EQ(Bits(F16ToFloat(0x0000)), 0x00000000u);
  EXPECT_EQ(Bits(F16ToFloat(0x8000)), 0x80000000u);  // -0 keeps its sign
  EXPECT_EQ(F16ToFloat(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(F16ToFloat(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(F16ToFloat(0x7e00)));
  EXPECT_TRUE(std::isnan(F16ToFloat(0x7c01)));  // signalling payload must not become inf
  EXPECT_TRUE(std::isnan(F16ToFloat(0xfe00)));
}

TEST(DTypeTest, F16AllValuesMatchReference) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const float got = F16ToFloat(static_cast<uint16_t>(h));
    const double want = ReferenceF16(static_cast<uint16_t>(h));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << std::hex << h;
    } else {
      EXPECT_EQ(static_cast<double>(got), want) << std::hex << h;
      EXPECT_EQ(std::signbit(got), (h & 0x8000) != 0) << std::hex << h;
    }
  }
}

TEST(DTypeTest, Bf16ToFloat) {
  EXPECT_EQ(Bf16ToFloat(0x3f80), 1.0f);
  EXPECT_EQ(Bf16ToFloat(0xc000), -2.0f);
  EXPECT_EQ(Bf16ToFloat(0x4049), 3.140625f);
  EXPECT_EQ(Bf16ToFloat(0x0001), 0x1p-133f);  // smallest subnormal
  EXPECT_EQ(Bits(Bf16ToFloat(0x8000)), 0x80000000u);
  EXPECT_EQ(Bf16ToFloat(0x7f80), std::numeric_limits<float>::infinity());
  EXPECT_EQ(Bf16ToFloat(0xff80), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(Bf16ToFloat(0x7fc0)));
  for (uint32_t b = 0; b <= 0xffff; ++b) {
    EXPECT_EQ(Bits(Bf16ToFloat(static_cast<uint16_t>(b))), b << 16);
  }
}

TEST(DTypeTest, FloatToBf16RoundsToNearestEven) {
  EXPECT_EQ(FloatToBf16(1.0f), 0x3f80);
  EXPECT_EQ(FloatToBf16(-2.0f), 0xc000);
  // Below, at and above the halfway point between 0x3f80 (even) and 0x3f81.
  EXPECT_EQ(FloatToBf16(FromBits(0x3f807fffu)), 0x3f80);
  EXPECT_EQ(FloatToBf16(FromBits(0x3f808000u)), 0x3f80);  // tie -> even (down)
  EXPECT_EQ(FloatToBf16(FromBits(0x3f808001u)), 0x3f81);
  // Between 0x3f81 (odd) and 0x3f82.
  EXPECT_EQ(FloatToBf16(FromBits(0x3f817fffu)), 0x3f81);
  EXPECT_EQ(FloatToBf16(FromBits(0x3f818000u)), 0x3f82);  // tie -> even (up)
  EXPECT_EQ(FloatToBf16(FromBits(0xbf818000u)), 0xbf82);  // same for negatives
  // Rounding carries into the exponent; the largest floats round to infinity.
  EXPECT_EQ(FloatToBf16(FromBits(0x3fffffffu)), 0x4000);
  EXPECT_EQ(FloatToBf16(std::numeric_limits<float>::max()), 0x7f80);
  EXPECT_EQ(FloatToBf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(FloatToBf16(-std::numeric_limits<float>::infinity()), 0xff80);
  EXPECT_EQ(FloatToBf16(-0.0f), 0x8000);
  EXPECT_EQ(FloatToBf16(FromBits(0x00008000u)), 0x0000);  // subnormal tie -> even
  EXPECT_EQ(FloatToBf16(FromBits(0x00018000u)), 0x0002);
}

TEST(DTypeTest, FloatToBf16KeepsNaN) {
  for (uint32_t nan : {0x7fc00000u, 0x7f800001u, 0x7fffffffu, 0xff800001u, 0xffc00000u}) {
    const uint16_t b = FloatToBf16(FromBits(nan));
    EXPECT_TRUE(std::isnan(Bf16ToFloat(b))) << std::hex << nan;
    EXPECT_EQ(static_cast<uint32_t>(b & 0x8000u), (nan >> 16) & 0x8000u) << std::hex << nan;
  }
}

TEST(DTypeTest, Bf16RoundTrip) {
  for (uint32_t b = 0; b <= 0xffff; ++b) {
    const float f = Bf16ToFloat(static_cast<uint16_t>(b));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(Bf16ToFloat(FloatToBf16(f)))) << std::hex << b;
    } else {
      EXPECT_EQ(FloatToBf16(f), b) << std::hex << b;
    }
  }
}

TEST(DTypeTest, ConvertToFloatFromUnalignedSources) {
  const std::vector<float> want = {1.0f, -2.0f, 0.5f, 65504.0f, -0.0f};
  for (size_t offset = 1; offset < 4; ++offset) {
    // F32
    std::vector<unsigned char> buf(offset + 4 * want.size());
    std::memcpy(buf.data() + offset, want.data(), 4 * want.size());
    std::vector<float> got(want.size(), 7.0f);
    ConvertToFloat(DType::kF32, buf.data() + offset, want.size(), got.data());
    EXPECT_THAT(got, ElementsAre(1.0f, -2.0f, 0.5f, 65504.0f, -0.0f));
    EXPECT_TRUE(std::signbit(got[4]));

    // BF16 and F16: the same values, all exactly representable in both.
    const uint16_t bf16[] = {0x3f80, 0xc000, 0x3f00, 0x477f, 0x8000};
    const uint16_t f16[] = {0x3c00, 0xc000, 0x3800, 0x7bff, 0x8000};
    for (DType t : {DType::kBF16, DType::kF16}) {
      std::memcpy(buf.data() + offset, t == DType::kBF16 ? bf16 : f16, sizeof bf16);
      std::fill(got.begin(), got.end(), 7.0f);
      ConvertToFloat(t, buf.data() + offset, 5, got.data());
      EXPECT_THAT(got,
                  ElementsAre(1.0f, -2.0f, 0.5f, t == DType::kBF16 ? 65280.0f : 65504.0f, -0.0f))
          << DTypeName(t) << " offset " << offset;
      EXPECT_TRUE(std::signbit(got[4]));
    }
  }
}

TEST(DTypeTest, ConvertToFloatWritesOnlyNElements) {
  const uint16_t src[] = {0x3c00, 0x4000, 0x4200};
  float dst[3] = {9.0f, 9.0f, 9.0f};
  ConvertToFloat(DType::kF16, src, 2, dst);
  EXPECT_THAT(dst, ElementsAre(1.0f, 2.0f, 9.0f));
}

TEST(DTypeTest, ConvertToFloatEmpty) {
  // An empty tensor may come with null pointers (e.g. an empty std::vector's data()).
  for (DType t : {DType::kBF16, DType::kF16, DType::kF32}) {
    ConvertToFloat(t, nullptr, 0, nullptr);
  }
}

TEST(DTypeTest, ParseDType) {
  EXPECT_EQ(ParseDType("BF16"), DType::kBF16);
  EXPECT_EQ(ParseDType("F16"), DType::kF16);
  EXPECT_EQ(ParseDType("F32"), DType::kF32);
  for (const char* name : {"bf16", "f32", "F64", "I8", "U8", "BOOL", "F8_E5M2", "", "F16 ", "BF"}) {
    EXPECT_EQ(ParseDType(name), std::nullopt) << name;
  }
  for (DType t :
       {DType::kBF16, DType::kF16, DType::kF32, DType::kI32, DType::kI64, DType::kF8E4M3}) {
    EXPECT_EQ(ParseDType(DTypeName(t)), t);
  }
  EXPECT_EQ(DTypeSize(DType::kBF16), 2u);
  EXPECT_EQ(DTypeSize(DType::kF16), 2u);
  EXPECT_EQ(DTypeSize(DType::kF32), 4u);
  EXPECT_EQ(DTypeSize(DType::kI32), 4u);
  EXPECT_EQ(DTypeSize(DType::kI64), 8u);
  EXPECT_EQ(DTypeSize(DType::kF8E4M3), 1u);
}

}  // namespace
}  // namespace tessera

// float8_e4m3fn values from the format's definition (OCP FP8, "E4M3"): bias 7, subnormals,
// 0x7F/0xFF NaN, no infinities.
TEST(DTypeTest, Fp8E4M3) {
  EXPECT_EQ(tessera::Fp8E4M3ToFloat(0x00), 0.0f);
  EXPECT_TRUE(std::signbit(tessera::Fp8E4M3ToFloat(0x80)));
  EXPECT_EQ(tessera::Fp8E4M3ToFloat(0x38), 1.0f);          // exponent 7, mantissa 0
  EXPECT_EQ(tessera::Fp8E4M3ToFloat(0x3C), 1.5f);          // mantissa 4/8
  EXPECT_EQ(tessera::Fp8E4M3ToFloat(0xC0), -2.0f);         // sign, exponent 8
  EXPECT_EQ(tessera::Fp8E4M3ToFloat(0x7E), 448.0f);        // largest finite
  EXPECT_EQ(tessera::Fp8E4M3ToFloat(0x01), 0.001953125f);  // smallest subnormal 2^-9
  EXPECT_EQ(tessera::Fp8E4M3ToFloat(0x07), 7 * 0.001953125f);
  EXPECT_EQ(tessera::Fp8E4M3ToFloat(0x08), 0.015625f);  // smallest normal 2^-6
  EXPECT_TRUE(std::isnan(tessera::Fp8E4M3ToFloat(0x7F)));
  EXPECT_TRUE(std::isnan(tessera::Fp8E4M3ToFloat(0xFF)));
  EXPECT_EQ(tessera::Fp8E4M3ToFloat(0x78), 256.0f);  // exponent 15 is finite in E4M3fn
}
