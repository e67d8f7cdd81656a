// Parity of the GPU sampler with the host reference (engine/sampler.h).
//
// Error bounds: the device sums exp(l - max) with fp32 exp (<= 2 ulp each) into double, so its
// logsumexp is within ~1e-6 of the host's; log-probabilities are compared within 1e-4 absolute.
// Tempered draws sum the same double weights in another order, so a sampled token is checked by the
// host's CDF: target = CounterUniform(seed, index) * total must lie in the token's interval
// [cdf_before, cdf_after] up to 1e-9 * total.
#include "engine/cuda/gpu_sampler.cuh"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/device_buffer.h"
#include "engine/sampler.h"
#include "tests/engine/cuda/gpu_test_util.h"

namespace tessera {
namespace {

constexpr double kLogprobTol = 1e-4;
constexpr double kCdfRelTol = 1e-9;

// Normal(0, scale) logits, never exactly zero.
std::vector<float> RandomLogits(int64_t n, float scale, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) {
    do {
      x = dist(rng);
    } while (x == 0.0f);
  }
  return v;
}

// Runs the GPU sampler over [requests.size(), vocab] logits on the default stream.
absl::Status RunGpuSampler(const std::vector<float>& logits, int32_t vocab,
                           const std::vector<GpuSampleRequest>& requests,
                           std::vector<GpuSampleResult>* results) {
  const int32_t rows = static_cast<int32_t>(requests.size());
  for (const GpuSampleRequest& r : requests) {
    if (absl::Status s = ValidateGpuSampleRequest(r, vocab); !s.ok()) return s;
  }
  DeviceBuffer<float> d_logits;
  DeviceBuffer<GpuSampleRequest> d_requests;
  DeviceBuffer<GpuSampleResult> d_results;
  if (absl::Status s = d_logits.Allocate(logits.size()); !s.ok()) return s;
  if (absl::Status s = d_requests.Allocate(rows); !s.ok()) return s;
  if (absl::Status s = d_results.Allocate(rows); !s.ok()) return s;
  if (absl::Status s = d_logits.CopyFromHost(logits.data(), logits.size()); !s.ok()) return s;
  if (absl::Status s = d_requests.CopyFromHost(requests.data(), rows); !s.ok()) return s;
  if (absl::Status s = LaunchGpuSampler(d_logits.data(), rows, vocab, d_requests.data(),
                                        d_results.data(), nullptr);
      !s.ok()) {
    return s;
  }
  TESSERA_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize());
  results->resize(rows);
  return d_results.CopyToHost(results->data(), rows);
}

// The host's CDF interval of `token` under temperature sampling, and the host's draw target.
struct HostCdf {
  double before = 0;
  double after = 0;
  double target = 0;
  double total = 0;
  double weight = 0;
};

HostCdf HostCdfOf(absl::Span<const float> logits, const GpuSampleRequest& req, int32_t token) {
  int32_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > logits[best]) best = static_cast<int32_t>(i);
  }
  const double inv_t = 1.0 / req.temperature;
  HostCdf cdf;
  for (size_t i = 0; i < logits.size(); ++i) {
    const double w = std::exp((static_cast<double>(logits[i]) - logits[best]) * inv_t);
    if (static_cast<int32_t>(i) < token) cdf.before += w;
    if (static_cast<int32_t>(i) == token) cdf.weight = w;
    cdf.total += w;
  }
  cdf.after = cdf.before + cdf.weight;
  cdf.target = CounterUniform(req.seed, static_cast<uint64_t>(req.sample_index)) * cdf.total;
  return cdf;
}

// Checks one row's GPU result against the host sampler. Returns whether a tempered draw picked
// exactly the host's token (always true for other rows).
bool ExpectRowMatchesHost(absl::Span<const float> logits, const GpuSampleRequest& req,
                          const GpuSampleResult& res, const std::string& what) {
  SCOPED_TRACE(what);
  const int32_t vocab = static_cast<int32_t>(logits.size());
  std::vector<float> lp;
  LogSoftmax(logits, &lp);
  bool exact = true;

  if (req.sample == 0) {
    EXPECT_EQ(res.token, -1);
  } else {
    SamplingParams params;
    params.temperature = req.temperature;
    params.seed = req.seed;
    const int32_t host_token = SampleToken(logits, params, req.sample_index);
    if (req.temperature <= 0.0f) {
      EXPECT_EQ(res.token, host_token);
    } else {
      EXPECT_GE(res.token, 0);
      EXPECT_LT(res.token, vocab);
      if (res.token < 0 || res.token >= vocab) return false;
      const HostCdf cdf = HostCdfOf(logits, req, res.token);
      const double tol = kCdfRelTol * cdf.total;
      EXPECT_GT(cdf.weight, 0.0) << "token " << res.token << " has zero weight";
      EXPECT_LE(cdf.before - tol, cdf.target)
          << "token " << res.token << " (host " << host_token << ") starts after the draw";
      EXPECT_LT(cdf.target, cdf.after + tol)
          << "token " << res.token << " (host " << host_token << ") ends before the draw";
      exact = res.token == host_token;
    }
    if (res.token >= 0 && res.token < vocab) {
      EXPECT_NEAR(res.token_logprob, lp[res.token], kLogprobTol);
    }
  }

  if (req.target >= 0) {
    EXPECT_NEAR(res.target_logprob, lp[req.target], kLogprobTol);
  }

  const std::vector<TokenLogprob> top = TopK(lp, req.top_k);
  EXPECT_EQ(res.num_top, static_cast<int32_t>(top.size()));
  for (size_t j = 0; j < top.size() && j < static_cast<size_t>(kMaxTopK); ++j) {
    const int32_t id = res.top_ids[j];
    EXPECT_NEAR(res.top_logprobs[j], top[j].logprob, kLogprobTol) << "top " << j;
    if (id != top[j].token_id) {
      // Only acceptable where the host's fp32 log-probabilities tie (distinct logits can round to
      // the same log-probability, and the host then orders by id).
      EXPECT_TRUE(id >= 0 && id < vocab) << "top " << j << ": device id " << id;
      if (id < 0 || id >= vocab) continue;
      EXPECT_EQ(lp[id], top[j].logprob)
          << "top " << j << ": device id " << id << ", host id " << top[j].token_id;
    }
  }
  for (int32_t j = static_cast<int32_t>(top.size()); j < kMaxTopK; ++j) {
    EXPECT_EQ(res.top_ids[j], -1) << "unused top slot " << j;
  }
  return exact;
}

// Runs `requests` over `logits` on the device and checks every row; returns the number of tempered
// draws that differ from the host's token (each one is within the CDF tolerance).
int CheckAgainstHost(const std::vector<float>& logits, int32_t vocab,
                     const std::vector<GpuSampleRequest>& requests) {
  std::vector<GpuSampleResult> results;
  const absl::Status s = RunGpuSampler(logits, vocab, requests, &results);
  EXPECT_TRUE(s.ok()) << s;
  if (!s.ok()) return 0;
  int inexact = 0;
  for (size_t r = 0; r < requests.size(); ++r) {
    const GpuSampleRequest& q = requests[r];
    const std::string what = absl::StrCat("vocab ", vocab, " row ", r, ": sample ", q.sample, " T ",
                                          q.temperature, " seed ", q.seed, " index ",
                                          q.sample_index, " target ", q.target, " top_k ", q.top_k);
    const absl::Span<const float> row(logits.data() + r * vocab, vocab);
    if (!ExpectRowMatchesHost(row, q, results[r], what)) ++inexact;
  }
  return inexact;
}

GpuSampleRequest Request(int32_t sample, float temperature, uint64_t seed, int64_t sample_index,
                         int32_t target, int32_t top_k) {
  GpuSampleRequest r;
  r.sample = sample;
  r.temperature = temperature;
  r.seed = seed;
  r.sample_index = sample_index;
  r.target = target;
  r.top_k = top_k;
  return r;
}

class GpuSamplerVocabTest : public ::testing::TestWithParam<int32_t> {};

// Greedy and tempered rows with every top-k size and targets, plus log-probability-only rows.
TEST_P(GpuSamplerVocabTest, MatchesHostSamplerOnRandomLogits) {
  TESSERA_SKIP_WITHOUT_GPU();
  const int32_t vocab = GetParam();
  std::mt19937 rng(1000 + vocab);
  std::uniform_int_distribution<int32_t> token(0, vocab - 1);
  std::vector<GpuSampleRequest> requests;
  uint64_t seed = 17;
  for (float t : {0.0f, 0.7f, 1.0f}) {
    for (int32_t k : {0, 1, 5, 20}) {
      const int32_t target = requests.size() % 2 == 0 ? token(rng) : -1;
      requests.push_back(Request(1, t, seed++, static_cast<int64_t>(requests.size()), target, k));
    }
  }
  for (int32_t k : {0, 1, 5, 20}) requests.push_back(Request(0, 0.0f, 0, 0, token(rng), k));
  // More tempered draws, for the CDF check.
  for (int i = 0; i < 24; ++i) {
    requests.push_back(Request(1, i % 2 == 0 ? 0.7f : 1.0f, 99 + i % 3, 1000 + i, -1, 0));
  }
  const std::vector<float> logits =
      RandomLogits(static_cast<int64_t>(requests.size()) * vocab, 3.0f, rng);
  const int inexact = CheckAgainstHost(logits, vocab, requests);
  // A differing token needs the draw within rounding (~1e-15 relative) of a CDF boundary.
  EXPECT_LE(inexact, 1);
}

// Multiples of 4 take the float4 path; the others the scalar one. 7 < kMaxTopK clamps top-k.
INSTANTIATE_TEST_SUITE_P(Vocabs, GpuSamplerVocabTest,
                         ::testing::Values(7, 1000, 1003, 32000, 50257, 151936));

// Duplicated maxima (in one thread's share, across threads and across warps) go to the lowest id.
TEST(GpuSamplerTest, TiesPickLowestId) {
  TESSERA_SKIP_WITHOUT_GPU();
  for (int32_t vocab : {1000, 1003, 32000}) {
    std::mt19937 rng(vocab);
    // One thread sees 100 and 101 on the float4 path (vocab % 4 == 0) and 100 and 612 on the
    // scalar path; 2148 shares thread 25 with 100 on the float4 path.
    std::vector<int32_t> tied = {612, 101, 100, 300, 999};
    if (vocab > 20000) tied.insert(tied.end(), {31999, 2148, 20000});
    std::vector<float> row = RandomLogits(vocab, 1.0f, rng);
    for (float& x : row) x = std::min(x, 5.0f);
    for (int32_t id : tied) row[id] = 7.0f;
    std::vector<float> flat(vocab, 1.5f);  // every token tied

    std::vector<float> logits;
    std::vector<GpuSampleRequest> requests;
    for (int32_t k : {1, 5, 20}) {
      logits.insert(logits.end(), row.begin(), row.end());
      requests.push_back(Request(1, 0.0f, 0, 0, 300, k));
      logits.insert(logits.end(), flat.begin(), flat.end());
      requests.push_back(Request(1, 0.0f, 0, 0, vocab - 1, k));
    }
    std::vector<GpuSampleResult> results;
    const absl::Status s = RunGpuSampler(logits, vocab, requests, &results);
    ASSERT_TRUE(s.ok()) << s;
    std::vector<int32_t> sorted_tied = tied;
    std::sort(sorted_tied.begin(), sorted_tied.end());
    for (size_t r = 0; r < requests.size(); ++r) {
      SCOPED_TRACE(absl::StrCat("vocab ", vocab, " row ", r));
      const GpuSampleResult& res = results[r];
      const bool is_flat = r % 2 == 1;
      EXPECT_EQ(res.token, is_flat ? 0 : 100);
      for (int32_t j = 0; j < res.num_top; ++j) {
        const int32_t want =
            is_flat
                ? j
                : (j < static_cast<int32_t>(sorted_tied.size()) ? sorted_tied[j] : res.top_ids[j]);
        EXPECT_EQ(res.top_ids[j], want) << "top " << j;
      }
      ExpectRowMatchesHost(absl::Span<const float>(logits.data() + r * vocab, vocab), requests[r],
                           res, "host parity");
    }
  }
}

// Logits far from zero: the max subtraction keeps exp in range.
TEST(GpuSamplerTest, LargeLogitsDoNotOverflow) {
  TESSERA_SKIP_WITHOUT_GPU();
  const int32_t vocab = 4096 + 5;
  std::mt19937 rng(5);
  std::vector<GpuSampleRequest> requests = {
      Request(1, 0.0f, 0, 0, 7, 5), Request(1, 0.7f, 3, 11, 8, 20), Request(1, 1.0f, 4, 12, -1, 1),
      Request(0, 0.0f, 0, 0, 4000, 20)};
  std::vector<float> logits =
      RandomLogits(static_cast<int64_t>(requests.size()) * vocab, 3.0f, rng);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] += (i / vocab) % 2 == 0 ? 1000.0f : -1000.0f;
  EXPECT_LE(CheckAgainstHost(logits, vocab, requests), 1);
}

// A row holding NaN or +-inf anywhere (first id, last id, a later chunk of the row) is flagged,
// whatever its request asks; finite rows are not, the largest finite float and the -inf padding
// past a vocabulary that is no multiple of 8 included, and they still match the host.
TEST(GpuSamplerTest, FlagsRowsWithNonFiniteLogits) {
  TESSERA_SKIP_WITHOUT_GPU();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (int32_t vocab : {1003, 32000, 50257}) {
    std::mt19937 rng(vocab);
    struct Poison {
      int32_t id;  // -1: none
      float value;
    };
    const int32_t later = std::min(vocab - 2, 4096 + 517);  // past the first 4096-token chunk
    const std::vector<Poison> poisons = {{-1, 0.0f},
                                         {0, nan},
                                         {vocab - 1, nan},
                                         {later, inf},
                                         {later, -inf},
                                         {vocab / 2, -inf},
                                         {vocab / 3, std::numeric_limits<float>::max()}};
    const std::vector<GpuSampleRequest> kinds = {
        Request(1, 0.0f, 0, 0, 3, 5), Request(1, 0.8f, 7, 2, -1, 0), Request(0, 0.0f, 0, 0, 4, 20)};
    std::vector<float> logits;
    std::vector<GpuSampleRequest> requests;
    std::vector<bool> want;
    for (const Poison& p : poisons) {
      for (const GpuSampleRequest& q : kinds) {
        std::vector<float> row = RandomLogits(vocab, 3.0f, rng);
        if (p.id >= 0) row[p.id] = p.value;
        logits.insert(logits.end(), row.begin(), row.end());
        requests.push_back(q);
        want.push_back(p.id >= 0 && !std::isfinite(p.value));
      }
    }
    std::vector<GpuSampleResult> results;
    const absl::Status s = RunGpuSampler(logits, vocab, requests, &results);
    ASSERT_TRUE(s.ok()) << s;
    for (size_t r = 0; r < requests.size(); ++r) {
      const std::string what = absl::StrCat("vocab ", vocab, " row ", r);
      EXPECT_EQ(results[r].non_finite, want[r] ? 1 : 0) << what;
      const bool huge = poisons[r / kinds.size()].value == std::numeric_limits<float>::max();
      if (!want[r] && !huge) {
        ExpectRowMatchesHost(absl::Span<const float>(logits.data() + r * vocab, vocab), requests[r],
                             results[r], what);
      }
    }
  }
}

// Chi-square bound at p = 1e-6 with 7 degrees of freedom, so the check cannot flake (the draws
// are also a fixed function of the seed).
TEST(GpuSamplerTest, FrequenciesFollowTemperedSoftmax) {
  TESSERA_SKIP_WITHOUT_GPU();
  const std::vector<float> base = {0.5f, -1.0f, 2.0f, 0.1f, 1.3f, -0.7f, 1.9f, 0.25f};
  const int32_t vocab = static_cast<int32_t>(base.size());
  const int n = 4000;
  for (float t : {1.0f, 0.7f}) {
    SCOPED_TRACE(absl::StrCat("temperature ", t));
    std::vector<float> logits;
    std::vector<GpuSampleRequest> requests;
    for (int i = 0; i < n; ++i) {
      logits.insert(logits.end(), base.begin(), base.end());
      requests.push_back(Request(1, t, 2024, i, -1, 0));
    }
    std::vector<GpuSampleResult> results;
    const absl::Status s = RunGpuSampler(logits, vocab, requests, &results);
    ASSERT_TRUE(s.ok()) << s;
    std::vector<int> counts(vocab);
    int inexact = 0;
    for (int i = 0; i < n; ++i) {
      ASSERT_GE(results[i].token, 0);
      ASSERT_LT(results[i].token, vocab);
      ++counts[results[i].token];
      if (!ExpectRowMatchesHost(base, requests[i], results[i], absl::StrCat("row ", i))) ++inexact;
    }
    EXPECT_LE(inexact, 1);
    double z = 0;
    for (float l : base) z += std::exp(l / t);
    double chi2 = 0;
    for (int32_t k = 0; k < vocab; ++k) {
      const double expected = n * std::exp(base[k] / t) / z;
      ASSERT_GE(expected, 5.0);
      chi2 += (counts[k] - expected) * (counts[k] - expected) / expected;
    }
    EXPECT_LT(chi2, 40.52);
  }
}

TEST(GpuSamplerTest, CounterUniformMatchesHostBitForBit) {
  TESSERA_SKIP_WITHOUT_GPU();
  std::mt19937_64 rng(77);
  std::vector<uint64_t> seeds, indices;
  const uint64_t edges[] = {0, 1, 0x9e3779b97f4a7c15ull, std::numeric_limits<uint64_t>::max()};
  for (uint64_t s : edges) {
    for (uint64_t i : edges) {
      seeds.push_back(s);
      indices.push_back(i);
    }
  }
  for (int i = 0; i < 4096; ++i) {
    seeds.push_back(rng());
    indices.push_back(i % 2 == 0 ? static_cast<uint64_t>(i) : rng());
  }
  const int32_t n = static_cast<int32_t>(seeds.size());
  DeviceBuffer<uint64_t> d_seeds, d_indices;
  DeviceBuffer<double> d_out;
  ASSERT_TRUE(d_seeds.Allocate(n).ok());
  ASSERT_TRUE(d_indices.Allocate(n).ok());
  ASSERT_TRUE(d_out.Allocate(n).ok());
  ASSERT_TRUE(d_seeds.CopyFromHost(seeds.data(), n).ok());
  ASSERT_TRUE(d_indices.CopyFromHost(indices.data(), n).ok());
  const absl::Status s =
      LaunchCounterUniform(d_seeds.data(), d_indices.data(), n, d_out.data(), nullptr);
  ASSERT_TRUE(s.ok()) << s;
  std::vector<double> out(n);
  ASSERT_TRUE(d_out.CopyToHost(out.data(), n).ok());
  for (int32_t i = 0; i < n; ++i) {
    ASSERT_EQ(out[i], CounterUniform(seeds[i], indices[i]))
        << "seed " << seeds[i] << " index " << indices[i];
  }
}

// Host-only checks: these run without a device.
TEST(GpuSamplerTest, ValidateRejectsInvalidRequests) {
  const int32_t vocab = 1000;
  EXPECT_TRUE(ValidateGpuSampleRequest(Request(1, 0.7f, 1, 2, vocab - 1, kMaxTopK), vocab).ok());
  EXPECT_TRUE(ValidateGpuSampleRequest(Request(0, 0.0f, 0, 0, -1, 0), vocab).ok());
  EXPECT_TRUE(ValidateGpuSampleRequest(Request(1, 0.0f, 0, 0, -1, 20), 7).ok());  // k > vocab
  const GpuSampleRequest bad[] = {
      Request(1, 0.0f, 0, 0, -1, 21),         Request(1, 0.0f, 0, 0, -1, -1),
      Request(1, 0.0f, 0, 0, vocab, 0),       Request(1, 0.0f, 0, 0, -2, 0),
      Request(2, 0.0f, 0, 0, -1, 0),          Request(1, -0.5f, 0, 0, -1, 0),
      Request(1, std::nanf(""), 0, 0, -1, 0), Request(1, INFINITY, 0, 0, -1, 0),
  };
  for (const GpuSampleRequest& r : bad) {
    const absl::Status s = ValidateGpuSampleRequest(r, vocab);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument)
        << "sample " << r.sample << " T " << r.temperature << " target " << r.target << " top_k "
        << r.top_k << ": " << s;
  }
  EXPECT_EQ(ValidateGpuSampleRequest(Request(1, 0.0f, 0, 0, -1, 0), 0).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(GpuSamplerTest, LaunchRejectsBadArguments) {
  float* logits = nullptr;
  GpuSampleRequest* requests = nullptr;
  GpuSampleResult* results = nullptr;
  EXPECT_EQ(LaunchGpuSampler(logits, 1, 0, requests, results, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LaunchGpuSampler(logits, 1, kMaxGpuSamplerVocab + 1, requests, results, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LaunchGpuSampler(logits, -1, 1000, requests, results, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LaunchGpuSampler(logits, 1, 1000, requests, results, nullptr).code(),
            absl::StatusCode::kInvalidArgument);                                    // null pointers
  EXPECT_TRUE(LaunchGpuSampler(logits, 0, 1000, requests, results, nullptr).ok());  // no rows
}

}  // namespace
}  // namespace tessera
