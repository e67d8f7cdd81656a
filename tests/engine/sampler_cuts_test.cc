// Top-k, top-p and min-p: the sampler never emits a token outside the kept set, and among the
// kept tokens it follows the renormalized distribution. The kept sets are computed here from the
// definitions (a full sort in double), independently of the sampler's partial selection.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "engine/sampler.h"

namespace tessera {
namespace {

// softmax(logits / T) in double.
std::vector<double> Probabilities(const std::vector<float>& logits, float temperature) {
  const double max = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(logits.size());
  double z = 0;
  for (size_t i = 0; i < p.size(); ++i) z += p[i] = std::exp((logits[i] - max) / temperature);
  for (double& x : p) x /= z;
  return p;
}

// The kept set by the definitions: top-k, then the nucleus of the renormalized top-k, then min-p
// against the most likely token.
std::set<int32_t> KeptSet(const std::vector<float>& logits, const SamplingParams& s) {
  const std::vector<double> p = Probabilities(logits, s.temperature);
  std::vector<int32_t> order(p.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](int32_t a, int32_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
  if (s.top_k > 0 && s.top_k < static_cast<int32_t>(order.size())) order.resize(s.top_k);
  double mass = 0;
  for (int32_t t : order) mass += p[t];
  if (s.top_p < 1.0f) {
    double acc = 0;
    size_t n = 0;
    while (n < order.size() && acc < s.top_p * mass) acc += p[order[n++]];
    order.resize(n);
  }
  std::set<int32_t> kept;
  for (int32_t t : order) {
    if (p[t] >= s.min_p * p[order[0]]) kept.insert(t);
  }
  return kept;
}

// Logits whose ranked cumulative probabilities (T = 0.8) stay clear of the cut points used below.
const std::vector<float> kLogits = {1.0f, 2.5f, 0.3f,  3.1f, -1.0f, 2.0f,
                                    0.0f, 1.7f, -0.5f, 2.9f, 0.9f,  1.2f};

SamplingParams Cuts(int32_t top_k, float top_p, float min_p) {
  SamplingParams s;
  s.temperature = 0.8f;
  s.top_k = top_k;
  s.top_p = top_p;
  s.min_p = min_p;
  return s;
}

struct CutCase {
  SamplingParams params;
  std::set<int32_t> want;  // worked out by hand from the probabilities, to check KeptSet itself
};

std::vector<CutCase> Cases() {
  return {
      {Cuts(3, 1.0f, 0.0f), {3, 9, 1}},     {Cuts(0, 0.5f, 0.0f), {3, 9}},
      {Cuts(0, 0.8f, 0.0f), {3, 9, 1, 5}},  {Cuts(0, 1.0f, 0.2f), {3, 9, 1, 5}},
      {Cuts(5, 1.0f, 0.25f), {3, 9, 1, 5}}, {Cuts(6, 0.7f, 0.0f), {3, 9, 1}},
      {Cuts(6, 0.7f, 0.5f), {3, 9}},        {Cuts(1, 1.0f, 0.0f), {3}},
      {Cuts(0, 0.01f, 0.0f), {3}},  // always at least one token
  };
}

TEST(SamplerCutsTest, NeverEmitsATokenOutsideTheKeptSet) {
  for (const CutCase& c : Cases()) {
    ASSERT_EQ(KeptSet(kLogits, c.params), c.want);
    std::set<int32_t> seen;
    for (uint64_t seed = 1; seed <= 300; ++seed) {
      SamplingParams p = c.params;
      p.seed = seed;
      for (int64_t i = 0; i < 10; ++i) {
        const int32_t t = SampleToken(kLogits, p, i);
        ASSERT_TRUE(c.want.count(t)) << "token " << t << " top_k " << p.top_k << " top_p "
                                     << p.top_p << " min_p " << p.min_p;
        seen.insert(t);
      }
    }
    EXPECT_EQ(seen, c.want) << "every kept token is drawn in 3000 samples";
  }
}

// Chi-square of the counts of n draws against n * the renormalized kept distribution. The bound is
// the chi-square quantile with false-failure probability 1e-6 for a correct sampler and a random
// seed; the seed is fixed, so the test is deterministic.
TEST(SamplerCutsTest, FrequenciesFollowTheRenormalizedKeptDistribution) {
  // 1e-6 quantiles of chi-square with 1..5 degrees of freedom.
  const double kBound[] = {0, 23.93, 27.63, 30.66, 33.38, 35.89};
  for (const CutCase& c : Cases()) {
    if (c.want.size() < 2) continue;
    SamplingParams p = c.params;
    p.seed = 4242;
    const std::vector<double> prob = Probabilities(kLogits, p.temperature);
    double kept_mass = 0;
    for (int32_t t : c.want) kept_mass += prob[t];
    const int n = 30000;
    std::vector<int> counts(kLogits.size());
    for (int i = 0; i < n; ++i) ++counts[SampleToken(kLogits, p, i)];
    double chi2 = 0;
    for (int32_t t : c.want) {
      const double expected = n * prob[t] / kept_mass;
      chi2 += (counts[t] - expected) * (counts[t] - expected) / expected;
    }
    ASSERT_LT(c.want.size() - 1, std::size(kBound));
    EXPECT_LT(chi2, kBound[c.want.size() - 1])
        << "top_k " << p.top_k << " top_p " << p.top_p << " min_p " << p.min_p;
  }
}

// A 128k vocabulary: the partial selections (heap or nth_element top-k, bucketed and chunked
// nucleus) keep exactly the set a full sort gives, for peaked and flat distributions (nuclei of a
// few tokens to thousands).
TEST(SamplerCutsTest, LargeVocabularyKeepsExactlyTheDefinedSet) {
  std::mt19937 rng(7);
  for (float spread : {0.5f, 4.0f}) {
    std::normal_distribution<float> normal(0.0f, spread);
    std::vector<float> logits(1 << 17);
    for (float& x : logits) x = normal(rng);
    for (const SamplingParams& cuts :
         {Cuts(40, 1.0f, 0.0f), Cuts(0, 0.9f, 0.0f), Cuts(1000, 0.5f, 0.0f), Cuts(5000, 1.0f, 0.0f),
          Cuts(3000, 0.97f, 0.0f), Cuts(0, 0.95f, 0.05f), Cuts(0, 1.0f, 0.3f)}) {
      SamplingParams p = cuts;
      p.temperature = 1.0f;
      const std::set<int32_t> kept = KeptSet(logits, p);
      ASSERT_FALSE(kept.empty());
      SamplerScratch scratch;
      for (uint64_t seed = 1; seed <= 40; ++seed) {
        p.seed = seed;
        const int32_t t = SampleToken(logits, p, {}, 0, &scratch);
        ASSERT_TRUE(kept.count(t)) << "spread " << spread << " top_k " << p.top_k << " top_p "
                                   << p.top_p << " min_p " << p.min_p << " kept " << kept.size();
      }
    }
  }
}

// Equal logits make the cuts fall inside a tie, which goes to the lower ids: the kept set is
// exactly ids [0, m). Each kept token has probability 1/m per draw, so 20000 draws reach the last
// kept id (a correct sampler misses it with probability below 1e-7; the seed is fixed) and any
// token past it that a wrong boundary let in.
TEST(SamplerCutsTest, TiesAtTheCutGoToTheLowerIds) {
  const std::vector<float> flat(1500, 0.25f);
  struct TieCase {
    SamplingParams params;
    int32_t m;
  };
  // top_p 0.3f is 0.300000012 in float: 450 tokens fall just short of the mass, 451 reach it.
  const std::vector<TieCase> cases = {
      {Cuts(700, 1.0f, 0.0f), 700},    // heap selection
      {Cuts(1100, 1.0f, 0.0f), 1100},  // nth_element selection
      {Cuts(0, 0.3f, 0.0f), 451},      // one weight bucket holds every token
      {Cuts(1100, 0.3f, 0.0f), 331},   // 0.300000012 * 1100 = 330.0000131
  };
  for (const TieCase& c : cases) {
    SamplingParams p = c.params;
    p.seed = 99;
    ASSERT_EQ(KeptSet(flat, p).size(), static_cast<size_t>(c.m));
    SamplerScratch scratch;
    int32_t highest = -1;
    for (int64_t i = 0; i < 20000; ++i) {
      highest = std::max(highest, SampleToken(flat, p, {}, i, &scratch));
    }
    EXPECT_EQ(highest, c.m - 1) << "top_k " << p.top_k << " top_p " << p.top_p;
  }
}

}  // namespace
}  // namespace tessera
