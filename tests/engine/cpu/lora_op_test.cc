// The CPU LoRA op (shrink then expand) against a naive double-precision loop on random inputs, with
// rows of mixed ranks and base-model rows, guard values around the output, and batch invariance.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "engine/cpu/lora.h"

namespace tessera {
namespace {

// Uniform in [-1, -0.05] U [0.05, 1]: never zero, so a skipped term always shows.
std::vector<float> Random(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(0.05f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = (rng() & 1 ? 1.0f : -1.0f) * u(rng);
  return v;
}

LoraPair RandomPair(int32_t rank, int64_t in, int64_t out, float scale, std::mt19937& rng) {
  LoraPair p;
  p.rank = rank;
  p.scale = scale;
  p.in_features = in;
  p.out_features = out;
  p.a = Random(rank * in, rng);
  p.b = Random(out * rank, rng);
  return p;
}

constexpr int64_t kIn = 67, kOut = 45;  // not multiples of the dot product's 8 lanes
constexpr int64_t kGuard = 16;
constexpr float kGuardValue = 12345.0f;

TEST(LoraOpTest, MatchesNaiveDoubleLoopForMixedRanksAndBaseRows) {
  std::mt19937 rng(11);
  const std::vector<LoraPair> pairs = {
      RandomPair(1, kIn, kOut, 2.0f, rng), RandomPair(3, kIn, kOut, 0.5f, rng),
      RandomPair(8, kIn, kOut, 1.25f, rng), RandomPair(16, kIn, kOut, 0.3f, rng),
      RandomPair(64, kIn, kOut, 0.125f, rng)};
  // Rows: every pair, base rows in between, a pair used twice.
  const std::vector<const LoraPair*> rows = {&pairs[2], nullptr,   &pairs[0], &pairs[3], &pairs[1],
                                             nullptr,   &pairs[2], &pairs[4], nullptr};
  const auto n = static_cast<int64_t>(rows.size());
  const std::vector<float> x = Random(n * kIn, rng);
  const std::vector<float> y0 = Random(n * kOut, rng);
  std::vector<float> buf(kGuard + n * kOut + kGuard, kGuardValue);
  std::copy(y0.begin(), y0.end(), buf.begin() + kGuard);
  float* y = buf.data() + kGuard;

  AddLoraDelta(x.data(), kIn, rows, kOut, y);

  for (int64_t i = 0; i < kGuard; ++i) {
    EXPECT_EQ(buf[i], kGuardValue);
    EXPECT_EQ(buf[kGuard + n * kOut + i], kGuardValue);
  }
  double worst = 0;
  for (int64_t t = 0; t < n; ++t) {
    const LoraPair* p = rows[t];
    for (int64_t o = 0; o < kOut; ++o) {
      const float got = y[t * kOut + o];
      ASSERT_TRUE(std::isfinite(got));
      if (p == nullptr) {
        EXPECT_EQ(got, y0[t * kOut + o]) << "base row " << t << " changed";
        continue;
      }
      double delta = 0, magnitude = 0;
      for (int32_t r = 0; r < p->rank; ++r) {
        double h = 0, h_abs = 0;
        for (int64_t i = 0; i < kIn; ++i) {
          h += double{p->a[r * kIn + i]} * x[t * kIn + i];
          h_abs += std::abs(double{p->a[r * kIn + i]} * x[t * kIn + i]);
        }
        delta += double{p->b[o * p->rank + r]} * h;
        magnitude += std::abs(double{p->b[o * p->rank + r]}) * h_abs;
      }
      const double want = y0[t * kOut + o] + p->scale * delta;
      // fp32 accumulation: error bounded by a few ulps of the sum of absolute terms.
      const double tol = 1e-6 * (1 + p->scale * magnitude);
      EXPECT_NEAR(got, want, tol) << "row " << t << " out " << o << " rank " << p->rank;
      worst = std::max(worst, std::abs(got - want) / tol);
    }
  }
  EXPECT_LT(worst, 1.0);
}

TEST(LoraOpTest, ARowGivesTheSameBitsAloneAsInAnyBatch) {
  std::mt19937 rng(12);
  const LoraPair a = RandomPair(8, kIn, kOut, 2.0f, rng), b = RandomPair(16, kIn, kOut, 0.5f, rng);
  const std::vector<const LoraPair*> rows = {&b, &a, nullptr, &a, &b};
  const auto n = static_cast<int64_t>(rows.size());
  const std::vector<float> x = Random(n * kIn, rng), y0 = Random(n * kOut, rng);
  std::vector<float> together = y0;
  AddLoraDelta(x.data(), kIn, rows, kOut, together.data());
  for (int64_t t = 0; t < n; ++t) {
    std::vector<float> alone(y0.begin() + t * kOut, y0.begin() + (t + 1) * kOut);
    const std::vector<const LoraPair*> one = {rows[t]};
    AddLoraDelta(x.data() + t * kIn, kIn, one, kOut, alone.data());
    for (int64_t o = 0; o < kOut; ++o) EXPECT_EQ(alone[o], together[t * kOut + o]) << t << " " << o;
  }
}

TEST(LoraOpTest, NoAdaptedRowChangesNothing) {
  std::mt19937 rng(13);
  const std::vector<float> x = Random(3 * kIn, rng), y0 = Random(3 * kOut, rng);
  std::vector<float> y = y0;
  const std::vector<const LoraPair*> rows(3, nullptr);
  AddLoraDelta(x.data(), kIn, rows, kOut, y.data());
  EXPECT_EQ(y, y0);
}

}  // namespace
}  // namespace tessera
