#include <cuda_runtime.h>

#include <climits>
#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "engine/counter_rng.h"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/gpu_sampler.cuh"

namespace tessera {
namespace {

// One CTA of kThreads per row. Pass 1 walks the row strided by kThreads (each thread sees its
// tokens in increasing id order); pass 2 walks it in chunks of kChunk where each thread owns kItems
// consecutive tokens, so a block-wide prefix scan of per-thread sums follows token order.
constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;
constexpr int kItems = 8;
constexpr int kChunk = kThreads * kItems;
constexpr int kMaxChunks = kMaxGpuSamplerVocab / kChunk;
static_assert(kMaxGpuSamplerVocab % kChunk == 0);
static_assert(kWarps <= 32);
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int32_t kNoId = INT_MAX;  // sentinel id: loses every tie

// The top-k order: higher value first, then the lower id.
__device__ __forceinline__ bool Better(float av, int32_t ai, float bv, int32_t bi) {
  return av > bv || (av == bv && ai < bi);
}

struct SamplerShared {
  float warp_v[kWarps];
  int32_t warp_i[kWarps];
  double warp_d[kWarps];
  double warp_excl[kWarps];
  double chunk_total[kMaxChunks];  // pass 2: sum of the tempered weights of each chunk
  float top_v[kMaxTopK];           // merged top-k logits (thread 0 only)
  int32_t top_i[kMaxTopK];
  float best_v;
  int32_t best_i;
  double sum;
  double scan_total;
  double target;
  double sel_prefix;  // sum of the chunks before the selected one
  int32_t sel_chunk;
  int32_t first_cross;
  int32_t last_positive;
};

// The best (value, id) over the block, returned to every thread.
__device__ __forceinline__ void BlockBest(float v, int32_t i, SamplerShared& sh, float* out_v,
                                          int32_t* out_i) {
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    const float ov = __shfl_xor_sync(kFullMask, v, off);
    const int32_t oi = __shfl_xor_sync(kFullMask, i, off);
    if (Better(ov, oi, v, i)) {
      v = ov;
      i = oi;
    }
  }
  if (lane == 0) {
    sh.warp_v[warp] = v;
    sh.warp_i[warp] = i;
  }
  __syncthreads();
  if (warp == 0) {
    v = lane < kWarps ? sh.warp_v[lane] : -INFINITY;
    i = lane < kWarps ? sh.warp_i[lane] : kNoId;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
      const float ov = __shfl_xor_sync(kFullMask, v, off);
      const int32_t oi = __shfl_xor_sync(kFullMask, i, off);
      if (Better(ov, oi, v, i)) {
        v = ov;
        i = oi;
      }
    }
    if (lane == 0) {
      sh.best_v = v;
      sh.best_i = i;
    }
  }
  __syncthreads();
  *out_v = sh.best_v;
  *out_i = sh.best_i;
}

// The sum of `v` over the block, returned to every thread.
__device__ __forceinline__ double BlockSum(double v, SamplerShared& sh) {
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(kFullMask, v, off);
  if (lane == 0) sh.warp_d[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < kWarps ? sh.warp_d[lane] : 0.0;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(kFullMask, v, off);
    if (lane == 0) sh.sum = v;
  }
  __syncthreads();
  return sh.sum;
}

// Exclusive prefix sum of `v` over the threads in index order; *total gets the block's sum. The
// same inputs always give the same outputs (fixed order of additions).
__device__ __forceinline__ double BlockExclusiveScan(double v, SamplerShared& sh, double* total) {
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  double incl = v;
#pragma unroll
  for (int off = 1; off < 32; off <<= 1) {
    const double n = __shfl_up_sync(kFullMask, incl, off);
    if (lane >= off) incl += n;
  }
  double excl = __shfl_up_sync(kFullMask, incl, 1);
  if (lane == 0) excl = 0.0;
  if (lane == 31) sh.warp_d[warp] = incl;
  __syncthreads();
  if (warp == 0) {
    double wincl = lane < kWarps ? sh.warp_d[lane] : 0.0;
#pragma unroll
    for (int off = 1; off < 32; off <<= 1) {
      const double n = __shfl_up_sync(kFullMask, wincl, off);
      if (lane >= off) wincl += n;
    }
    double wexcl = __shfl_up_sync(kFullMask, wincl, 1);
    if (lane == 0) wexcl = 0.0;
    if (lane < kWarps) sh.warp_excl[lane] = wexcl;
    if (lane == kWarps - 1) sh.scan_total = wincl;
  }
  __syncthreads();
  *total = sh.scan_total;
  return sh.warp_excl[warp] + excl;
}

// Inserts (v, i) into the sorted list tv/ti[0..K) (best first), dropping the last entry. Indices
// are compile-time constants so the list stays in registers.
template <int K>
__device__ __forceinline__ void Insert(float (&tv)[kMaxTopK], int32_t (&ti)[kMaxTopK], float v,
                                       int32_t i) {
  if (!Better(v, i, tv[K - 1], ti[K - 1])) return;
#pragma unroll
  for (int j = 0; j < K; ++j) {
    if (Better(v, i, tv[j], ti[j])) {
      const float sv = tv[j];
      const int32_t si = ti[j];
      tv[j] = v;
      ti[j] = i;
      v = sv;
      i = si;
    }
  }
}

// Pass 1: this thread's best K logits (with ids) among its strided share of the row.
template <int K>
__device__ __forceinline__ void CollectTop(const float* __restrict__ x, int32_t vocab, bool aligned,
                                           float (&tv)[kMaxTopK], int32_t (&ti)[kMaxTopK]) {
  if (aligned) {
    const float4* x4 = reinterpret_cast<const float4*>(x);
    const int32_t n4 = vocab / 4;
#pragma unroll 2
    for (int32_t q = threadIdx.x; q < n4; q += kThreads) {
      const float4 f = __ldg(x4 + q);
      Insert<K>(tv, ti, f.x, 4 * q);
      Insert<K>(tv, ti, f.y, 4 * q + 1);
      Insert<K>(tv, ti, f.z, 4 * q + 2);
      Insert<K>(tv, ti, f.w, 4 * q + 3);
    }
  } else {
#pragma unroll 4
    for (int32_t i = threadIdx.x; i < vocab; i += kThreads) Insert<K>(tv, ti, __ldg(x + i), i);
  }
}

// This thread's kItems consecutive logits from `base`; -inf past the end of the row.
__device__ __forceinline__ void LoadItems(const float* __restrict__ x, int32_t vocab, int32_t base,
                                          bool aligned, float (&v)[kItems]) {
  static_assert(kItems == 8);
  if (aligned && base + kItems <= vocab) {
    const float4 a = __ldg(reinterpret_cast<const float4*>(x + base));
    const float4 b = __ldg(reinterpret_cast<const float4*>(x + base + 4));
    v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w;
    v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
  } else {
#pragma unroll
    for (int j = 0; j < kItems; ++j) v[j] = base + j < vocab ? __ldg(x + base + j) : -INFINITY;
  }
}

// Tempered weights exp((l - max) / T) in double, as the host computes them; returns their sum in
// item order.
__device__ __forceinline__ double TemperedWeights(const float (&v)[kItems], double max_logit,
                                                  double inv_t, double (&w)[kItems]) {
  double sum = 0.0;
#pragma unroll
  for (int j = 0; j < kItems; ++j) {
    w[j] = exp((static_cast<double>(v[j]) - max_logit) * inv_t);
    sum += w[j];
  }
  return sum;
}

__global__ void __launch_bounds__(kThreads)
    GpuSamplerKernel(const float* __restrict__ logits, int32_t vocab, bool aligned,
                     const GpuSampleRequest* __restrict__ requests,
                     GpuSampleResult* __restrict__ results) {
  __shared__ SamplerShared sh;
  const int32_t row = blockIdx.x;
  const float* __restrict__ x = logits + static_cast<int64_t>(row) * vocab;
  const GpuSampleRequest req = requests[row];
  const int32_t k = max(0, min(req.top_k, min(kMaxTopK, vocab)));
  const bool tempered = req.sample != 0 && req.temperature > 0.0f;

  // Pass 1: max and arg-max (lowest id on ties) and, when asked, the top-k by k rounds of a block
  // arg-max over the heads of the per-thread sorted lists.
  float max_logit = -INFINITY;
  int32_t argmax = 0;
  {
    float tv[kMaxTopK];
    int32_t ti[kMaxTopK];
#pragma unroll
    for (int j = 0; j < kMaxTopK; ++j) {
      tv[j] = -INFINITY;
      ti[j] = kNoId;
    }
    if (k > 1) {
      CollectTop<kMaxTopK>(x, vocab, aligned, tv, ti);
    } else {
      CollectTop<1>(x, vocab, aligned, tv, ti);
    }
    const int32_t rounds = k > 1 ? k : 1;
    for (int32_t r = 0; r < rounds; ++r) {
      float bv;
      int32_t bi;
      BlockBest(tv[0], ti[0], sh, &bv, &bi);
      if (r == 0) {
        max_logit = bv;
        argmax = bi;
      }
      if (threadIdx.x == 0) {
        sh.top_v[r] = bv;
        sh.top_i[r] = bi;
      }
      if (ti[0] == bi) {  // ids are unique: this thread held the winner, pop it
#pragma unroll
        for (int j = 0; j + 1 < kMaxTopK; ++j) {
          tv[j] = tv[j + 1];
          ti[j] = ti[j + 1];
        }
        tv[kMaxTopK - 1] = -INFINITY;
        ti[kMaxTopK - 1] = kNoId;
      }
    }
  }

  // Pass 2: logsumexp (fp32 exp, double accumulation) and, for temperature sampling, the tempered
  // weight total of every chunk.
  const double max_d = static_cast<double>(max_logit);
  const double inv_t = tempered ? 1.0 / static_cast<double>(req.temperature) : 0.0;
  const int32_t num_chunks = (vocab + kChunk - 1) / kChunk;
  double exp_sum = 0.0;
  int non_finite = 0;  // this thread saw NaN or +-inf (LoadItems' -inf padding excluded)
  for (int32_t c = 0; c < num_chunks; ++c) {
    const int32_t base = c * kChunk + static_cast<int32_t>(threadIdx.x) * kItems;
    float v[kItems];
    LoadItems(x, vocab, base, aligned, v);
#pragma unroll
    for (int j = 0; j < kItems; ++j) {
      exp_sum += static_cast<double>(expf(v[j] - max_logit));
      non_finite |= base + j < vocab && !isfinite(v[j]) ? 1 : 0;
    }
    if (tempered) {
      double w[kItems];
      const double local = TemperedWeights(v, max_d, inv_t, w);
      double total;
      BlockExclusiveScan(local, sh, &total);
      if (threadIdx.x == 0) sh.chunk_total[c] = total;
    }
  }
  const double lse = max_d + log(BlockSum(exp_sum, sh));
  non_finite = __syncthreads_or(non_finite);

  // Temperature sampling: find the chunk whose prefix crosses the target, then the first token
  // inside it whose running prefix exceeds the target (a block scan in token order).
  int32_t token = argmax;
  if (tempered) {
    if (threadIdx.x == 0) {
      double total = 0.0;
      for (int32_t c = 0; c < num_chunks; ++c) total += sh.chunk_total[c];
      const double target =
          CounterRngUniform(req.seed, static_cast<uint64_t>(req.sample_index)) * total;
      // The same additions as `total`, so the last prefix equals it exactly.
      double prefix = 0.0;
      int32_t sel = -1;
      double sel_prefix = 0.0;
      int32_t last_chunk = 0;    // last chunk with weight: the fallback when rounding leaves the
      double last_prefix = 0.0;  // target at the very end of the CDF
      for (int32_t c = 0; c < num_chunks; ++c) {
        const double next = prefix + sh.chunk_total[c];
        if (sh.chunk_total[c] > 0.0) {
          last_chunk = c;
          last_prefix = prefix;
        }
        if (next > target) {
          sel = c;
          sel_prefix = prefix;
          break;
        }
        prefix = next;
      }
      if (sel < 0) {
        sel = last_chunk;
        sel_prefix = last_prefix;
      }
      sh.target = target;
      sh.sel_chunk = sel;
      sh.sel_prefix = sel_prefix;
      sh.first_cross = kNoId;
      sh.last_positive = -1;
    }
    __syncthreads();
    const double target = sh.target;
    const double sel_prefix = sh.sel_prefix;
    const int32_t base = sh.sel_chunk * kChunk + static_cast<int32_t>(threadIdx.x) * kItems;
    float v[kItems];
    LoadItems(x, vocab, base, aligned, v);
    double w[kItems];
    const double local = TemperedWeights(v, max_d, inv_t, w);
    double unused_total;
    const double excl = BlockExclusiveScan(local, sh, &unused_total);
    int32_t first = kNoId;
    int32_t last_positive = -1;
    double run = 0.0;
#pragma unroll
    for (int j = 0; j < kItems; ++j) {
      run += w[j];
      if (w[j] > 0.0) {  // tokens of weight 0 are never drawn (as on the host)
        last_positive = base + j;
        if (first == kNoId && sel_prefix + (excl + run) > target) first = base + j;
      }
    }
    if (first != kNoId) atomicMin(&sh.first_cross, first);
    if (last_positive >= 0) atomicMax(&sh.last_positive, last_positive);
    __syncthreads();
    // No crossing inside the chunk only when rounding put the target at the chunk's very end.
    token = sh.first_cross != kNoId ? sh.first_cross : sh.last_positive;
    if (token < 0) token = argmax;  // no positive weight at all: only with NaN logits
  }

  if (threadIdx.x == 0) {
    GpuSampleResult& out = results[row];
    const auto logprob = [&](int32_t id) {
      return static_cast<float>(static_cast<double>(x[id]) - lse);
    };
    if (req.sample != 0) {
      out.token = token;
      out.token_logprob = logprob(token);
    } else {
      out.token = -1;
      out.token_logprob = 0.0f;
    }
    if (req.target < 0) {
      out.target_logprob = 0.0f;
    } else {
      out.target_logprob = req.target < vocab ? logprob(req.target) : NAN;
    }
    out.num_top = k;
    out.non_finite = non_finite != 0 ? 1 : 0;
    for (int j = 0; j < kMaxTopK; ++j) {
      out.top_ids[j] = j < k ? sh.top_i[j] : -1;
      out.top_logprobs[j] =
          j < k ? static_cast<float>(static_cast<double>(sh.top_v[j]) - lse) : 0.0f;
    }
  }
}

__global__ void CounterUniformKernel(const uint64_t* __restrict__ seeds,
                                     const uint64_t* __restrict__ indices, int32_t n,
                                     double* __restrict__ out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = CounterRngUniform(seeds[i], indices[i]);
}

absl::Status CheckVocab(int32_t vocab) {
  if (vocab <= 0 || vocab > kMaxGpuSamplerVocab) {
    return absl::InvalidArgumentError(
        absl::StrCat("GPU sampler: vocab ", vocab, " outside [1, ", kMaxGpuSamplerVocab, "]"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateGpuSampleRequest(const GpuSampleRequest& request, int32_t vocab) {
  if (absl::Status s = CheckVocab(vocab); !s.ok()) return s;
  if (request.sample != 0 && request.sample != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("GPU sampler: sample must be 0 or 1, got ", request.sample));
  }
  if (!std::isfinite(request.temperature) || request.temperature < 0.0f) {
    return absl::InvalidArgumentError(absl::StrCat(
        "GPU sampler: temperature must be finite and >= 0, got ", request.temperature));
  }
  if (request.target < -1 || request.target >= vocab) {
    return absl::InvalidArgumentError(
        absl::StrCat("GPU sampler: target ", request.target, " outside [-1, ", vocab, ")"));
  }
  if (request.top_k < 0 || request.top_k > kMaxTopK) {
    return absl::InvalidArgumentError(
        absl::StrCat("GPU sampler: top_k ", request.top_k, " outside [0, ", kMaxTopK, "]"));
  }
  return absl::OkStatus();
}

absl::Status LaunchGpuSampler(const float* logits, int32_t num_rows, int32_t vocab,
                              const GpuSampleRequest* requests, GpuSampleResult* results,
                              cudaStream_t stream) {
  if (absl::Status s = CheckVocab(vocab); !s.ok()) return s;
  if (num_rows < 0) {
    return absl::InvalidArgumentError(absl::StrCat("GPU sampler: num_rows ", num_rows, " < 0"));
  }
  if (num_rows == 0) return absl::OkStatus();
  if (logits == nullptr || requests == nullptr || results == nullptr) {
    return absl::InvalidArgumentError("GPU sampler: null device pointer");
  }
  const bool aligned = vocab % 4 == 0 && reinterpret_cast<uintptr_t>(logits) % 16 == 0;
  GpuSamplerKernel<<<num_rows, kThreads, 0, stream>>>(logits, vocab, aligned, requests, results);
  return CudaStatus(cudaGetLastError(), "GpuSamplerKernel launch");
}

absl::Status LaunchCounterUniform(const uint64_t* seeds, const uint64_t* indices, int32_t n,
                                  double* out, cudaStream_t stream) {
  if (n < 0) return absl::InvalidArgumentError(absl::StrCat("CounterUniform: n ", n, " < 0"));
  if (n == 0) return absl::OkStatus();
  if (seeds == nullptr || indices == nullptr || out == nullptr) {
    return absl::InvalidArgumentError("CounterUniform: null device pointer");
  }
  constexpr int kBlock = 256;
  const int64_t blocks = (static_cast<int64_t>(n) + kBlock - 1) / kBlock;
  CounterUniformKernel<<<static_cast<unsigned>(blocks), kBlock, 0, stream>>>(seeds, indices, n,
                                                                             out);
  return CudaStatus(cudaGetLastError(), "CounterUniformKernel launch");
}

}  // namespace tessera
