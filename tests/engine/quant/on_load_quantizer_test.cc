// On-load quantizers against double-precision re-implementations written here from the formats'
// definitions: codes agree except where a value sits on a rounding boundary, every weight is
// within its group's error bound, NF4's code book is QLoRA's construction, blocks at tensor ends
// and all-zero groups come out right, and hostile weights are refused.
#include "engine/quant/on_load_quantizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "engine/dtype.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

// Normal weights with a few outliers and one all-zero row, as real layers have.
std::vector<float> Weights(int64_t n, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<float> w(static_cast<size_t>(n * k));
  for (float& x : w) x = normal(rng);
  for (int i = 0; i < 5; ++i) w[rng() % w.size()] *= 40.0f;
  if (n > 2) std::fill(w.begin() + k, w.begin() + 2 * k, 0.0f);  // row 1
  return w;
}

// How far x is from a rounding decision between two codes, in code units: near 0.5 a float and a
// double evaluation may round differently.
double DistanceFromTie(double x) { return std::fabs(std::fabs(x - std::floor(x)) - 0.5); }

TEST(OnLoadInt8Test, MatchesPerChannelSymmetricReference) {
  const int64_t n = 24, k = 96;
  const std::vector<float> w = Weights(n, k, 1);
  absl::StatusOr<QuantizedLinear> q = QuantizeInt8PerChannel("m", w, n, k);
  ASSERT_TRUE(q.ok()) << q.status();
  absl::StatusOr<std::vector<float>> d = q->Dequantize();
  ASSERT_TRUE(d.ok()) << d.status();
  for (int64_t r = 0; r < n; ++r) {
    double absmax = 0;
    for (int64_t i = 0; i < k; ++i) absmax = std::max(absmax, std::fabs(double{w[r * k + i]}));
    const double scale = absmax == 0 ? 1.0 : absmax / 127.0;
    EXPECT_NEAR(q->scales[r], scale, scale * 1e-6) << r;
    for (int64_t i = 0; i < k; ++i) {
      const double x = w[r * k + i] / scale;
      const double code = std::nearbyint(x);
      const size_t at = static_cast<size_t>(r * k + i);
      if (DistanceFromTie(x) > 1e-4) {
        EXPECT_EQ(static_cast<int>(q->values[at]) - 128, static_cast<int>(code)) << r << "," << i;
      }
      EXPECT_LE(std::fabs((*d)[at] - w[at]), scale * 0.5 * (1 + 1e-5)) << r << "," << i;
    }
  }
  for (int64_t i = 0; i < k; ++i) EXPECT_EQ((*d)[k + i], 0.0f);  // the zero row stays zero
  EXPECT_EQ(q->Label(), "int8 channel on-load");
  EXPECT_EQ(q->stored_bytes, n * k + 4 * n);
}

// The smallest IEEE half value >= s > 0, computed from the format (10 fraction bits).
double F16Ceil(double s) {
  const int e = std::max(static_cast<int>(std::floor(std::log2(s))), -14);
  const double quantum = std::ldexp(1.0, e - 10);
  return std::ceil(s / quantum) * quantum;
}

TEST(OnLoadInt4Test, MatchesGroupedZeroPointReference) {
  const int64_t n = 8, k = 384, g = 128;
  const std::vector<float> w = Weights(n, k, 2);
  absl::StatusOr<QuantizedLinear> q = QuantizeInt4Grouped("m", w, n, k);
  ASSERT_TRUE(q.ok()) << q.status();
  ASSERT_EQ(q->group_size, g);
  absl::StatusOr<std::vector<float>> d = q->Dequantize();
  ASSERT_TRUE(d.ok()) << d.status();
  int compared = 0;
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t j = 0; j < k / g; ++j) {
      double lo = 0, hi = 0;
      for (int64_t i = 0; i < g; ++i) {
        lo = std::min(lo, double{w[r * k + j * g + i]});
        hi = std::max(hi, double{w[r * k + j * g + i]});
      }
      const double scale = hi > lo ? F16Ceil((hi - lo) / 15.0) : 1.0;
      const double zero = std::clamp(std::nearbyint(-lo / scale), 0.0, 15.0);
      const size_t sz = static_cast<size_t>(j * n + r);
      EXPECT_EQ(q->scales[sz], scale) << r << "," << j;
      EXPECT_EQ(q->zeros[sz], zero) << r << "," << j;
      for (int64_t i = 0; i < g; ++i) {
        const size_t at = static_cast<size_t>(r * k + j * g + i);
        const double x = w[at] / scale;
        const double code = std::clamp(std::nearbyint(x) + zero, 0.0, 15.0);
        if (DistanceFromTie(x) > 1e-4) {
          EXPECT_EQ(q->values[at], code) << r << "," << j << "," << i;
          ++compared;
        }
        // Half a step, or a whole one where the top code clamps (the range's ends both round up).
        const bool clamped = std::nearbyint(x) + zero > 15.0;
        EXPECT_LE(std::fabs((*d)[at] - w[at]), scale * (clamped ? 1.0 : 0.5) + 1e-9)
            << r << "," << j << "," << i;
      }
    }
  }
  EXPECT_GT(compared, n * k * 9 / 10);
  for (int64_t i = 0; i < k; ++i) EXPECT_EQ((*d)[k + i], 0.0f);
  EXPECT_EQ(q->Label(), "int4 g128 on-load");
  // Packed codes, f16 scales, packed zero points.
  EXPECT_EQ(q->stored_bytes, n * k / 2 + (k / g) * n * 2 + (k / g) * n / 2);
}

TEST(OnLoadInt4Test, RefusesInputsThatGroupsOf128DoNotDivide) {
  absl::StatusOr<QuantizedLinear> q =
      QuantizeInt4Grouped("model.layers.0.mlp.down_proj", Weights(4, 192, 3), 4, 192);
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(q.status().message(), HasSubstr("model.layers.0.mlp.down_proj has 192 inputs"));
}

// Every finite E4M3 value, from its definition: exponent bias 7, 3 fraction bits, subnormals
// below 2^-6, largest 448 (S.1111.111 is NaN).
std::vector<double> E4M3Values() {
  std::vector<double> v;
  for (int m = 0; m < 8; ++m) v.push_back(std::ldexp(m / 8.0, -6));  // subnormals and 0
  for (int e = 1; e < 16; ++e) {
    for (int m = 0; m < 8; ++m) {
      if (e == 15 && m == 7) break;
      v.push_back(std::ldexp(1.0 + m / 8.0, e - 7));
    }
  }
  return v;  // ascending, 127 values
}

// Round to nearest E4M3, ties to the even code, saturating at 448.
double NearestE4M3(double x) {
  static const std::vector<double> values = E4M3Values();
  const double a = std::min(std::fabs(x), 448.0);
  size_t best = 0;
  for (size_t i = 1; i < values.size(); ++i) {
    const double d = std::fabs(values[i] - a), db = std::fabs(values[best] - a);
    if (d < db || (d == db && i % 2 == 0)) best = i;
  }
  return std::copysign(values[best], x);
}

TEST(OnLoadFp8Test, EncoderRoundTripsEveryCodeAndSaturates) {
  for (int c = 0; c < 256; ++c) {
    if ((c & 0x7f) == 0x7f) continue;  // NaN
    EXPECT_EQ(FloatToFp8E4M3(Fp8E4M3ToFloat(static_cast<uint8_t>(c))), c) << c;
  }
  EXPECT_EQ(FloatToFp8E4M3(1000.0f), 0x7e);
  EXPECT_EQ(FloatToFp8E4M3(-465.0f), 0xfe);
  EXPECT_EQ(FloatToFp8E4M3(std::nanf("")) & 0x7f, 0x7f);
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> u(-500.0f, 500.0f);
  for (int i = 0; i < 20000; ++i) {
    const float x = u(rng) * std::ldexp(1.0f, -static_cast<int>(rng() % 16));
    EXPECT_EQ(Fp8E4M3ToFloat(FloatToFp8E4M3(x)), NearestE4M3(x)) << x;
  }
}

TEST(OnLoadFp8Test, MatchesPerChannelReference) {
  const int64_t n = 16, k = 80;
  const std::vector<float> w = Weights(n, k, 5);
  absl::StatusOr<QuantizedLinear> q = QuantizeFp8PerChannel("m", w, n, k);
  ASSERT_TRUE(q.ok()) << q.status();
  absl::StatusOr<std::vector<float>> d = q->Dequantize();
  ASSERT_TRUE(d.ok()) << d.status();
  for (int64_t r = 0; r < n; ++r) {
    double absmax = 0;
    for (int64_t i = 0; i < k; ++i) absmax = std::max(absmax, std::fabs(double{w[r * k + i]}));
    const double scale = absmax == 0 ? 1.0 : absmax / 448.0;
    for (int64_t i = 0; i < k; ++i) {
      const size_t at = static_cast<size_t>(r * k + i);
      const double expected = NearestE4M3(w[at] / scale) * scale;
      EXPECT_NEAR((*d)[at], expected, std::fabs(expected) * 1e-6 + 1e-30) << r << "," << i;
      // 3 fraction bits: half a unit in the last place is 1/16 of the value (normals).
      EXPECT_LE(std::fabs((*d)[at] - w[at]), std::fabs(w[at]) / 16.0 + std::ldexp(scale, -10));
    }
  }
  EXPECT_EQ(q->Label(), "fp8 channel on-load");
}

// Inverse of the standard normal CDF by bisection on erfc (double precision is plenty here).
double NormalPpf(double p) {
  double lo = -10, hi = 10;
  for (int i = 0; i < 200; ++i) {
    const double mid = (lo + hi) / 2;
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

TEST(OnLoadNf4Test, CodeBookIsQloraConstruction) {
  // QLoRA (Dettmers et al., 2023): 8 positive quantiles of N(0,1) from an offset of
  // (1 - 1/32 + 1 - 1/30) / 2 toward 0.5, 7 negative ones, and an exact 0, scaled into [-1, 1].
  const double offset = 0.5 * ((1 - 1.0 / 32) + (1 - 1.0 / 30));
  std::vector<double> v;
  for (int i = 0; i < 8; ++i) v.push_back(NormalPpf(offset + (0.5 - offset) * i / 8.0));
  for (int i = 0; i < 7; ++i) v.push_back(-NormalPpf(offset + (0.5 - offset) * i / 7.0));
  v.push_back(0);
  std::sort(v.begin(), v.end());
  const double max = v.back();
  const std::array<float, 16>& codes = Nf4CodeBook();
  for (int i = 0; i < 16; ++i) EXPECT_NEAR(codes[i], v[i] / max, 1e-6) << i;
  EXPECT_EQ(codes[7], 0.0f);
}

TEST(OnLoadNf4Test, DynamicMapIsBitsandbytesConstruction) {
  // Decade 10^(i-6), i = 0..6, holds the 2^i midpoints of 2^i + 1 points evenly spaced over
  // [0.1, 1], with both signs; then 0 and 1.
  std::vector<double> v = {0.0, 1.0};
  for (int i = 0; i < 7; ++i) {
    const int points = (1 << i) + 1;
    for (int j = 0; j + 1 < points; ++j) {
      const double a = 0.1 + 0.9 * j / (points - 1), b = 0.1 + 0.9 * (j + 1) / (points - 1);
      v.push_back(std::pow(10.0, i - 6) * (a + b) / 2);
      v.push_back(-std::pow(10.0, i - 6) * (a + b) / 2);
    }
  }
  std::sort(v.begin(), v.end());
  ASSERT_EQ(v.size(), 256u);
  const std::array<float, 256>& map = DynamicMap8();
  for (int i = 0; i < 256; ++i) EXPECT_NEAR(map[i], v[i], std::fabs(v[i]) * 1e-6) << i;
}

int NearestIndex(const std::vector<double>& book, double x) {
  int best = 0;
  for (int i = 1; i < static_cast<int>(book.size()); ++i) {
    if (std::fabs(book[i] - x) < std::fabs(book[best] - x)) best = i;
  }
  return best;
}

TEST(OnLoadNf4Test, MatchesBlockwiseReferenceIncludingTheShortLastBlock) {
  // 3 x 50 = 150 values: blocks of 64 span rows, and the last holds 22.
  const int64_t n = 3, k = 50;
  std::vector<float> w = Weights(n, k, 6);
  std::fill(w.begin() + 64, w.begin() + 128, 0.0f);  // block 1 all zeros
  absl::StatusOr<QuantizedLinear> q = QuantizeNf4("m", w, n, k, /*double_quant=*/false);
  ASSERT_TRUE(q.ok()) << q.status();
  ASSERT_EQ(q->scales.size(), 3u);
  absl::StatusOr<std::vector<float>> d = q->Dequantize();
  ASSERT_TRUE(d.ok()) << d.status();
  const std::vector<double> book(Nf4CodeBook().begin(), Nf4CodeBook().end());
  for (int64_t b = 0; b < 3; ++b) {
    const int64_t start = b * 64, end = std::min<int64_t>(150, start + 64);
    double absmax = 0;
    for (int64_t i = start; i < end; ++i) absmax = std::max(absmax, std::fabs(double{w[i]}));
    EXPECT_EQ(q->scales[b], absmax) << b;
    for (int64_t i = start; i < end; ++i) {
      const double x = absmax == 0 ? 0 : w[i] / absmax;
      const int code = NearestIndex(book, x);
      // Skip values within 1e-6 of the midpoint between two codes.
      const bool near_tie = (code > 0 && std::fabs(x - (book[code] + book[code - 1]) / 2) < 1e-6) ||
                            (code < 15 && std::fabs(x - (book[code] + book[code + 1]) / 2) < 1e-6);
      if (!near_tie) EXPECT_EQ(q->values[i], code) << i;
      EXPECT_NEAR((*d)[i], book[q->values[i]] * absmax, absmax * 1e-6) << i;
    }
  }
  for (int64_t i = 64; i < 128; ++i) EXPECT_EQ((*d)[i], 0.0f);
  EXPECT_EQ(q->Label(), "nf4 b64 on-load");
  EXPECT_EQ(q->stored_bytes, 75 + 3 * 4);
}

TEST(OnLoadNf4Test, DoubleQuantizationKeepsCodesAndBoundsTheAbsmaxError) {
  // 600 blocks: three second-level blocks of 256, the last one short.
  const int64_t n = 600, k = 64;
  const std::vector<float> w = Weights(n, k, 7);
  absl::StatusOr<QuantizedLinear> plain = QuantizeNf4("m", w, n, k, false);
  absl::StatusOr<QuantizedLinear> dq = QuantizeNf4("m", w, n, k, true);
  ASSERT_TRUE(plain.ok() && dq.ok());
  EXPECT_EQ(plain->values, dq->values);  // codes come from the exact absmax
  double mean = 0;
  for (float a : plain->scales) mean += a;
  mean /= static_cast<double>(plain->scales.size());
  for (size_t start = 0; start < 600; start += 256) {
    const size_t end = std::min<size_t>(600, start + 256);
    double amax = 0;
    for (size_t i = start; i < end; ++i) amax = std::max(amax, std::fabs(plain->scales[i] - mean));
    for (size_t i = start; i < end; ++i) {
      // The dynamic map's widest gap is 0.9 / 64 (its top decade): half of it, times the block's
      // absmax, bounds the error.
      EXPECT_LE(std::fabs(dq->scales[i] - plain->scales[i]), amax * 0.9 / 128 + 1e-7) << i;
    }
  }
  EXPECT_NE(plain->scales, dq->scales);
  EXPECT_EQ(dq->Label(), "nf4 b64 double-quant on-load");
  EXPECT_EQ(dq->stored_bytes, n * k / 2 + 600 + 4 * 3 + 4);
  EXPECT_TRUE(dq->Dequantize().ok());
}

TEST(OnLoadQuantizerTest, RefusesNonFiniteWeightsNamingTheTensor) {
  std::vector<float> w = Weights(4, 128, 8);
  w[130] = std::numeric_limits<float>::infinity();
  for (OnLoadMethod m :
       {OnLoadMethod::kInt8, OnLoadMethod::kInt4, OnLoadMethod::kFp8, OnLoadMethod::kNf4}) {
    absl::StatusOr<QuantizedLinear> q =
        QuantizeOnLoad({m, false}, "model.layers.1.self_attn.k_proj", w, 4, 128);
    ASSERT_FALSE(q.ok());
    EXPECT_THAT(q.status().message(),
                HasSubstr("\"model.layers.1.self_attn.k_proj.weight\" holds inf at [1, 2]"));
  }
}

TEST(OnLoadQuantizerTest, MethodNamesAreVllms) {
  EXPECT_EQ(OnLoadMethodNamed("int8"), OnLoadMethod::kInt8);
  EXPECT_EQ(OnLoadMethodNamed("int4"), OnLoadMethod::kInt4);
  EXPECT_EQ(OnLoadMethodNamed("fp8"), OnLoadMethod::kFp8);
  EXPECT_EQ(OnLoadMethodNamed("nf4"), OnLoadMethod::kNf4);
  EXPECT_EQ(OnLoadMethodNamed("bitsandbytes"), OnLoadMethod::kNf4);
  EXPECT_EQ(OnLoadMethodNamed("awq"), std::nullopt);
  EXPECT_EQ(OnLoadMethodNamed("none"), std::nullopt);
}

TEST(QuantizedLinearTest, FlatBlocksRejectCodesOutsideTheCodeBook) {
  absl::StatusOr<QuantizedLinear> q = QuantizeNf4("m", Weights(2, 64, 9), 2, 64, false);
  ASSERT_TRUE(q.ok());
  q->values[70] = 16;
  EXPECT_THAT(q->Validate().message(), HasSubstr("code 16 at [1, 6]"));
  q->values[70] = 3;
  q->scales[1] = std::nanf("");
  EXPECT_THAT(q->Validate().message(), HasSubstr("must be finite"));
}

}  // namespace
}  // namespace tessera
