// The CPU reference ops against direct math written out in double precision, on random inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "engine/cpu/cpu_kv_cache.h"
#include "engine/cpu/linear.h"
#include "engine/cpu/paged_attention.h"
#include "engine/cpu/rms_norm.h"
#include "engine/cpu/rope.h"
#include "engine/cpu/swiglu.h"

namespace tessera {
namespace {

std::vector<float> Random(size_t n, std::mt19937& rng, float lo = -1, float hi = 1) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

TEST(RmsNormTest, MatchesDefinition) {
  std::mt19937 rng(1);
  const int64_t rows = 5, dim = 67;
  const std::vector<float> x = Random(rows * dim, rng, -3, 3), w = Random(dim, rng);
  std::vector<float> y(rows * dim);
  RmsNorm(x.data(), w.data(), rows, dim, 1e-5f, y.data());
  for (int64_t r = 0; r < rows; ++r) {
    double ms = 0;
    for (int64_t i = 0; i < dim; ++i) ms += double{x[r * dim + i]} * x[r * dim + i];
    const double inv = 1 / std::sqrt(ms / dim + 1e-5);
    for (int64_t i = 0; i < dim; ++i) {
      EXPECT_NEAR(y[r * dim + i], w[i] * x[r * dim + i] * inv, 1e-5);
    }
  }
  // In place gives the same.
  std::vector<float> z = x;
  RmsNorm(z.data(), w.data(), rows, dim, 1e-5f, z.data());
  EXPECT_EQ(z, y);
}

TEST(RopeTest, RotatesHalvesByPositionTimesFrequency) {
  std::mt19937 rng(2);
  for (int64_t d : {64, 128}) {
    const double theta = 10000;
    Rope rope(d, theta, RopeScaling{});
    const int64_t heads = 3;
    for (int64_t pos : {0, 1, 17, 1000, 8191}) {
      const std::vector<float> x = Random(heads * d, rng);
      std::vector<float> y = x;
      rope.Apply(y.data(), heads, pos);
      for (int64_t h = 0; h < heads; ++h) {
        for (int64_t i = 0; i < d / 2; ++i) {
          const double a = pos * std::pow(theta, -2.0 * i / d);
          const double x0 = x[h * d + i], x1 = x[h * d + i + d / 2];
          // Tolerance grows with the angle: transformers (and we) form it in fp32.
          const double tol = 2e-6 + 1e-7 * std::abs(a);
          EXPECT_NEAR(y[h * d + i], x0 * std::cos(a) - x1 * std::sin(a), tol) << pos << " " << i;
          EXPECT_NEAR(y[h * d + i + d / 2], x1 * std::cos(a) + x0 * std::sin(a), tol);
        }
      }
    }
  }
}

TEST(RopeTest, ScoresDependOnlyOnRelativePosition) {
  std::mt19937 rng(3);
  const int64_t d = 64;
  Rope rope(d, 10000, RopeScaling{});
  const std::vector<float> q = Random(d, rng), k = Random(d, rng);
  auto score = [&](int64_t pq, int64_t pk) {
    std::vector<float> a = q, b = k;
    rope.Apply(a.data(), 1, pq);
    rope.Apply(b.data(), 1, pk);
    return std::inner_product(a.begin(), a.end(), b.begin(), 0.0);
  };
  EXPECT_NEAR(score(10, 3), score(107, 100), 1e-4);
  EXPECT_NEAR(score(5, 5), score(0, 0), 1e-4);
}

TEST(RopeTest, LinearScalingDividesFrequencies) {
  RopeScaling s;
  s.type = RopeScalingType::kLinear;
  s.factor = 4;
  const std::vector<float> base = RopeInverseFrequencies(128, 10000, RopeScaling{});
  const std::vector<float> scaled = RopeInverseFrequencies(128, 10000, s);
  for (size_t i = 0; i < base.size(); ++i) EXPECT_FLOAT_EQ(scaled[i], base[i] / 4);
}

TEST(RopeTest, Llama3ScalingKeepsHighSlowsLowAndBlendsBetween) {
  RopeScaling s;  // Llama 3.1's published values
  s.type = RopeScalingType::kLlama3;
  s.factor = 8;
  s.low_freq_factor = 1;
  s.high_freq_factor = 4;
  s.original_max_position_embeddings = 8192;
  const double theta = 500000;
  const std::vector<float> base = RopeInverseFrequencies(128, theta, RopeScaling{});
  const std::vector<float> scaled = RopeInverseFrequencies(128, theta, s);
  int high = 0, low = 0, mid = 0;
  for (size_t i = 0; i < base.size(); ++i) {
    const double wavelen = 2 * M_PI / base[i];
    if (wavelen < 8192.0 / 4) {  // short wavelengths: unchanged
      EXPECT_FLOAT_EQ(scaled[i], base[i]);
      ++high;
    } else if (wavelen > 8192.0) {  // long: slowed by the factor
      EXPECT_FLOAT_EQ(scaled[i], base[i] / 8);
      ++low;
    } else {  // between: a blend, strictly inside the two
      const double smooth = (8192.0 / wavelen - 1) / (4 - 1);
      EXPECT_NEAR(scaled[i], (1 - smooth) * base[i] / 8 + smooth * base[i], 1e-6 * base[i]);
      ++mid;
    }
  }
  EXPECT_GT(high, 0);
  EXPECT_GT(low, 0);
  EXPECT_GT(mid, 0);
}

TEST(LinearTest, MatchesNaiveProductWithBias) {
  std::mt19937 rng(4);
  CpuLinear w;
  w.rows = 37;
  w.cols = 53;
  w.weight = Random(w.rows * w.cols, rng);
  w.bias = Random(w.rows, rng);
  const int64_t n = 45;  // more than one row tile
  const std::vector<float> x = Random(n * w.cols, rng);
  std::vector<float> y(n * w.rows);
  Linear(x.data(), n, w, y.data());
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t o = 0; o < w.rows; ++o) {
      double acc = w.bias[o];
      for (int64_t k = 0; k < w.cols; ++k)
        acc += double{x[r * w.cols + k]} * w.weight[o * w.cols + k];
      EXPECT_NEAR(y[r * w.rows + o], acc, 1e-5);
    }
  }
  // A row gives the same bits alone as in a batch.
  std::vector<float> single(w.rows);
  Linear(x.data() + 44 * w.cols, 1, w, single.data());
  EXPECT_TRUE(std::equal(single.begin(), single.end(), y.begin() + 44 * w.rows));
}

TEST(SwigluTest, MatchesDefinition) {
  std::mt19937 rng(5);
  const std::vector<float> g = Random(100, rng, -8, 8), u = Random(100, rng);
  std::vector<float> out(100);
  SiluMul(g.data(), u.data(), 100, out.data());
  for (int i = 0; i < 100; ++i)
    EXPECT_NEAR(out[i], g[i] / (1 + std::exp(-double{g[i]})) * u[i], 1e-6);
}

// Dense attention, double precision, with explicit causal and sliding-window masks.
struct AttentionCase {
  int64_t heads, kv_heads, head_dim, window;
  int32_t block_size;
};

class PagedAttentionTest : public testing::TestWithParam<AttentionCase> {};

TEST_P(PagedAttentionTest, MatchesDenseMaskedSoftmax) {
  const AttentionCase p = GetParam();
  std::mt19937 rng(6);
  // A ragged batch: a fresh prefill, a chunk after a cached prefix, and two decodes.
  const std::vector<int64_t> cached = {0, 21, 40, 5};
  const std::vector<int32_t> fed = {13, 9, 1, 1};
  const int64_t d = p.head_dim, kvw = p.kv_heads * d, qw = p.heads * d;
  const int32_t num_blocks = 160;  // one-token blocks need 90
  CpuKvCache cache(1, num_blocks, p.block_size, p.kv_heads, d);
  // Blocks handed out in a shuffled order so sequences interleave in the pool.
  std::vector<int32_t> pool(num_blocks);
  std::iota(pool.begin(), pool.end(), 0);
  std::shuffle(pool.begin(), pool.end(), rng);
  PageTable pages;
  std::vector<int32_t> qo_indptr{0};
  std::vector<std::vector<float>> keys, values;  // per sequence, [len][kv_heads * d]
  size_t next = 0;
  for (size_t s = 0; s < cached.size(); ++s) {
    const int64_t len = cached[s] + fed[s];
    const int32_t nb = static_cast<int32_t>((len + p.block_size - 1) / p.block_size);
    for (int32_t b = 0; b < nb; ++b) pages.indices.push_back(pool[next++]);
    pages.indptr.push_back(static_cast<int32_t>(pages.indices.size()));
    pages.last_block_len.push_back(static_cast<int32_t>(len - (nb - 1) * p.block_size));
    qo_indptr.push_back(qo_indptr.back() + fed[s]);
    keys.push_back(Random(len * kvw, rng));
    values.push_back(Random(len * kvw, rng));
    for (int64_t t = 0; t < len; ++t) {
      const int32_t block = pages.block_of(static_cast<int32_t>(s), t, p.block_size);
      std::copy_n(&keys[s][t * kvw], kvw, cache.Slot(0, block, 0, t % p.block_size));
      std::copy_n(&values[s][t * kvw], kvw, cache.Slot(0, block, 1, t % p.block_size));
    }
  }
  const int64_t tokens = qo_indptr.back();
  const std::vector<float> q = Random(tokens * qw, rng, -2, 2);
  std::vector<float> out(tokens * qw, std::nanf(""));
  PagedAttention(q.data(), qo_indptr, cached, pages, cache, 0, {p.heads, p.kv_heads, d, p.window},
                 out.data());

  const int64_t group = p.heads / p.kv_heads;
  for (size_t s = 0; s < cached.size(); ++s) {
    for (int32_t j = 0; j < fed[s]; ++j) {
      const int64_t t = qo_indptr[s] + j, pos = cached[s] + j;
      for (int64_t h = 0; h < p.heads; ++h) {
        const int64_t kh = h / group;
        std::vector<double> w;
        double max = -1e300;
        for (int64_t k = 0; k <= pos; ++k) {
          double score = -INFINITY;
          if (p.window == 0 || pos - k < p.window) {
            score = 0;
            for (int64_t i = 0; i < d; ++i)
              score += double{q[(t * p.heads + h) * d + i]} * keys[s][k * kvw + kh * d + i];
            score /= std::sqrt(double(d));
          }
          w.push_back(score);
          max = std::max(max, score);
        }
        double sum = 0;
        for (double& x : w) sum += (x = std::exp(x - max));
        for (int64_t i = 0; i < d; ++i) {
          double o = 0;
          for (int64_t k = 0; k <= pos; ++k) o += w[k] / sum * values[s][k * kvw + kh * d + i];
          EXPECT_NEAR(out[(t * p.heads + h) * d + i], o, 2e-5)
              << "seq " << s << " token " << j << " head " << h;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, PagedAttentionTest,
                         testing::Values(AttentionCase{4, 4, 64, 0, 16},   // MHA
                                         AttentionCase{4, 2, 64, 0, 16},   // GQA 2
                                         AttentionCase{8, 1, 64, 0, 5},    // MQA, odd block size
                                         AttentionCase{8, 2, 128, 0, 16},  // GQA 4, head_dim 128
                                         AttentionCase{4, 2, 32, 7, 4},    // sliding window
                                         AttentionCase{2, 1, 64, 1,
                                                       1}));  // window of one, one-token blocks

}  // namespace
}  // namespace tessera
