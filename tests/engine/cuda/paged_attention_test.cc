// Parity of the CUDA paged attention (decode split-KV and tiled prefill) with the fp32 CPU
// reference on random bf16-representable inputs: shuffled page tables, GQA/MQA, odd block sizes,
// page boundaries, ragged prefill/decode mixes, long contexts, sliding windows. The output buffer
// is poisoned (bf16 NaN) inside and around the written range; the cache slots no position uses
// are poisoned too.
#include "engine/cuda/paged_attention.cuh"

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/cpu/cpu_kv_cache.h"
#include "engine/cpu/paged_attention.h"
#include "engine/cuda/device_buffer.h"
#include "engine/kv/page_table.h"
#include "tests/engine/cuda/gpu_test_util.h"

namespace tessera {
namespace {

using ::tessera::testing::NormalizedError;
using ::tessera::testing::RandomBf16Values;

constexpr int64_t kGuard = 64;        // poisoned elements before and after the output
constexpr uint16_t kPoison = 0x7fff;  // a bf16 NaN
constexpr double kTolerance = 1e-2;

uint16_t Bits(__nv_bfloat16 x) { return static_cast<__nv_bfloat16_raw>(x).x; }

__nv_bfloat16 FromBits(uint16_t b) {
  __nv_bfloat16_raw raw;
  raw.x = b;
  return __nv_bfloat16(raw);
}

struct SeqSpec {
  int64_t cached = 0;  // tokens already in the cache
  int32_t q_len = 1;   // tokens fed this step
};

struct Case {
  int32_t head_dim = 128;
  int32_t num_heads = 8;
  int32_t num_kv_heads = 2;
  int32_t block_size = 16;
  int32_t sliding_window = 0;
  std::vector<SeqSpec> seqs;
  uint32_t seed = 1;
  float q_scale = 2.0f;  // scores of a few units: a peaked softmax

  std::string Name() const {
    return absl::StrCat("head_dim=", head_dim, " heads=", num_heads, "/", num_kv_heads,
                        " block_size=", block_size, " window=", sliding_window,
                        " seqs=", seqs.size(), " seed=", seed);
  }
};

// A random shuffled page table for `c`, the CPU (fp32) and GPU (bf16) caches filled with the same
// bf16-representable values, random q; runs both and checks guards, coverage and errors.
void RunCase(const Case& c) {
  SCOPED_TRACE(c.Name());
  std::mt19937 rng(c.seed);
  const int64_t d = c.head_dim, heads = c.num_heads, kv_heads = c.num_kv_heads;
  const int32_t bs = c.block_size;
  const int32_t num_seqs = static_cast<int32_t>(c.seqs.size());

  PageTable pages;
  std::vector<int32_t> qo_indptr{0};
  std::vector<int64_t> num_cached;
  int64_t used_blocks = 0;
  int32_t max_q_len = 0;
  int64_t max_kv_len = 0;
  for (const SeqSpec& s : c.seqs) {
    const int64_t kv_len = s.cached + s.q_len;
    used_blocks += (kv_len + bs - 1) / bs;
    qo_indptr.push_back(qo_indptr.back() + s.q_len);
    num_cached.push_back(s.cached);
    max_q_len = std::max(max_q_len, s.q_len);
    max_kv_len = std::max(max_kv_len, kv_len);
  }
  const int32_t num_tokens = qo_indptr.back();
  const int32_t num_blocks = static_cast<int32_t>(used_blocks) + 3;  // spare blocks, poisoned
  std::vector<int32_t> ids(num_blocks);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);
  int32_t next = 0;
  for (const SeqSpec& s : c.seqs) {
    const int64_t kv_len = s.cached + s.q_len;
    const int64_t nb = (kv_len + bs - 1) / bs;
    for (int64_t b = 0; b < nb; ++b) pages.indices.push_back(ids[next++]);
    pages.indptr.push_back(static_cast<int32_t>(pages.indices.size()));
    pages.last_block_len.push_back(static_cast<int32_t>(kv_len - (nb - 1) * bs));
  }

  // Caches: every slot a position uses gets random values; the GPU's others stay poisoned, so a
  // read outside the sequence's range shows as NaN.
  const int64_t token_stride = kv_heads * d;
  CpuKvCache cache(1, num_blocks, bs, kv_heads, d);
  std::vector<__nv_bfloat16> gpu_kv(static_cast<int64_t>(num_blocks) * 2 * bs * token_stride,
                                    FromBits(kPoison));
  for (int32_t s = 0; s < num_seqs; ++s) {
    const int64_t kv_len = c.seqs[s].cached + c.seqs[s].q_len;
    for (int64_t t = 0; t < kv_len; ++t) {
      const int32_t block = pages.block_of(s, t, bs);
      const int32_t slot = static_cast<int32_t>(t % bs);
      for (int32_t kv = 0; kv < 2; ++kv) {
        const std::vector<float> vals = RandomBf16Values(token_stride, 1.0f, rng);
        std::copy(vals.begin(), vals.end(), cache.Slot(0, block, kv, slot));
        __nv_bfloat16* dst = gpu_kv.data() + ((int64_t{block} * 2 + kv) * bs + slot) * token_stride;
        for (int64_t i = 0; i < token_stride; ++i) dst[i] = __float2bfloat16(vals[i]);
      }
    }
  }
  const std::vector<float> q = RandomBf16Values(int64_t{num_tokens} * heads * d, c.q_scale, rng);

  std::vector<float> want(q.size());
  AttentionShape shape;
  shape.num_heads = heads;
  shape.num_kv_heads = kv_heads;
  shape.head_dim = d;
  shape.sliding_window = c.sliding_window;
  PagedAttention(q.data(), qo_indptr, num_cached, pages, cache, 0, shape, want.data());

  // Device inputs.
  DeviceBuffer<__nv_bfloat16> d_q, d_kv, d_out;
  DeviceBuffer<int32_t> d_qo, d_kv_indptr, d_kv_indices, d_last, d_cached;
  DeviceBuffer<uint8_t> d_ws;
  const std::vector<__nv_bfloat16> q_bf16 = ::tessera::testing::ToBf16(q);
  std::vector<int32_t> cached32(num_cached.begin(), num_cached.end());
  ASSERT_TRUE(d_q.Allocate(q_bf16.size()).ok());
  ASSERT_TRUE(d_q.CopyFromHost(q_bf16.data(), q_bf16.size()).ok());
  ASSERT_TRUE(d_kv.Allocate(gpu_kv.size()).ok());
  ASSERT_TRUE(d_kv.CopyFromHost(gpu_kv.data(), gpu_kv.size()).ok());
  auto upload = [](DeviceBuffer<int32_t>& buf, const std::vector<int32_t>& v) {
    ASSERT_TRUE(buf.Allocate(v.size()).ok());
    ASSERT_TRUE(buf.CopyFromHost(v.data(), v.size()).ok());
  };
  upload(d_qo, qo_indptr);
  upload(d_kv_indptr, pages.indptr);
  upload(d_kv_indices, pages.indices);
  upload(d_last, pages.last_block_len);
  upload(d_cached, cached32);
  const int64_t ws_bytes =
      PagedAttentionWorkspaceBytes(num_tokens, num_seqs, c.num_heads, c.head_dim);
  ASSERT_GT(ws_bytes, 0);
  {
    // NaN-filled workspace: a partial result the reduction reads without the decode writing it
    // shows in the output.
    const std::vector<uint8_t> ws_poison(ws_bytes, 0xff);
    ASSERT_TRUE(d_ws.Allocate(ws_bytes).ok());
    ASSERT_TRUE(d_ws.CopyFromHost(ws_poison.data(), ws_bytes).ok());
  }

  const int64_t n_out = int64_t{num_tokens} * heads * d;
  const std::vector<__nv_bfloat16> poisoned(n_out + 2 * kGuard, FromBits(kPoison));
  ASSERT_TRUE(d_out.Allocate(poisoned.size()).ok());

  PagedAttentionArgs args;
  args.q = d_q.data();
  args.kv = d_kv.data();
  args.out = d_out.data() + kGuard;
  args.qo_indptr = d_qo.data();
  args.kv_indptr = d_kv_indptr.data();
  args.kv_indices = d_kv_indices.data();
  args.kv_last_block_len = d_last.data();
  args.num_cached = d_cached.data();
  args.num_seqs = num_seqs;
  args.num_tokens = num_tokens;
  args.num_heads = c.num_heads;
  args.num_kv_heads = c.num_kv_heads;
  args.head_dim = c.head_dim;
  args.block_size = bs;
  args.sliding_window = c.sliding_window;
  args.max_q_len = max_q_len;
  args.max_kv_len = max_kv_len;

  // Two runs into freshly poisoned outputs: they must agree bit for bit (a difference is a race).
  std::vector<__nv_bfloat16> runs[2];
  for (std::vector<__nv_bfloat16>& got_bf16 : runs) {
    ASSERT_TRUE(d_out.CopyFromHost(poisoned.data(), poisoned.size()).ok());
    const absl::Status launched = LaunchPagedAttention(args, d_ws.data(), ws_bytes, nullptr);
    ASSERT_TRUE(launched.ok()) << launched;
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess) << cudaGetErrorString(cudaGetLastError());
    got_bf16.resize(poisoned.size());
    ASSERT_TRUE(d_out.CopyToHost(got_bf16.data(), got_bf16.size()).ok());
  }
  const std::vector<__nv_bfloat16>& got_bf16 = runs[0];
  for (int64_t i = 0; i < kGuard; ++i) {
    ASSERT_EQ(Bits(got_bf16[i]), kPoison) << "guard before the output overwritten at " << i;
    ASSERT_EQ(Bits(got_bf16[kGuard + n_out + i]), kPoison)
        << "guard after the output overwritten at " << i;
  }
  std::vector<float> got(n_out);
  int64_t not_finite = 0;
  for (int64_t i = 0; i < n_out; ++i) {
    got[i] = __bfloat162float(got_bf16[kGuard + i]);
    if (!std::isfinite(got[i])) ++not_finite;
    ASSERT_EQ(Bits(got_bf16[kGuard + i]), Bits(runs[1][kGuard + i]))
        << "runs differ at element " << i;
  }
  ASSERT_EQ(not_finite, 0) << "elements unwritten or NaN/Inf";

  const double err = NormalizedError(got, want);
  EXPECT_LT(err, kTolerance) << "overall";
  for (int32_t s = 0; s < num_seqs; ++s) {
    const int64_t b = int64_t{qo_indptr[s]} * heads * d, e = int64_t{qo_indptr[s + 1]} * heads * d;
    if (b == e) continue;
    const std::vector<float> g(got.begin() + b, got.begin() + e),
        w(want.begin() + b, want.begin() + e);
    EXPECT_LT(NormalizedError(g, w), kTolerance)
        << "seq " << s << " cached " << c.seqs[s].cached << " q_len " << c.seqs[s].q_len;
  }
}

struct HeadConfig {
  int32_t num_heads;
  int32_t num_kv_heads;
};

// GQA groups 1, 2, 3, 4, 8, 16 and MQA (group 8 and 32).
const HeadConfig kHeadConfigs[] = {{2, 2},  {4, 2},  {6, 2}, {8, 2},
                                   {16, 2}, {32, 2}, {8, 1}, {32, 1}};

TEST(PagedAttentionTest, DecodeSweepPageBoundaries) {
  TESSERA_SKIP_WITHOUT_GPU();
  uint32_t seed = 100;
  for (int32_t head_dim : {64, 128}) {
    for (const HeadConfig& h : kHeadConfigs) {
      for (int32_t block_size : {16, 5}) {
        Case c;
        c.head_dim = head_dim;
        c.num_heads = h.num_heads;
        c.num_kv_heads = h.num_kv_heads;
        c.block_size = block_size;
        c.seed = seed++;
        // KV lengths 1, 15, 16, 17, 31, 32, 33, 100 (the query is the last position).
        for (int64_t kv_len : {1, 15, 16, 17, 31, 32, 33, 100}) c.seqs.push_back({kv_len - 1, 1});
        RunCase(c);
      }
    }
  }
}

TEST(PagedAttentionTest, MixedPrefillAndDecodeSweep) {
  TESSERA_SKIP_WITHOUT_GPU();
  uint32_t seed = 200;
  for (int32_t head_dim : {64, 128}) {
    for (const HeadConfig& h : kHeadConfigs) {
      for (int32_t block_size : {16, 5}) {
        Case c;
        c.head_dim = head_dim;
        c.num_heads = h.num_heads;
        c.num_kv_heads = h.num_kv_heads;
        c.block_size = block_size;
        c.seed = seed++;
        c.seqs = {{0, 17}, {5, 1}, {16, 16}, {0, 1},   {31, 33}, {100, 7},
                  {3, 69}, {0, 2}, {15, 1},  {0, 130}, {47, 64}, {1, 1}};
        RunCase(c);
      }
    }
  }
}

TEST(PagedAttentionTest, PrefillOnlyNoCachedPrefix) {
  TESSERA_SKIP_WITHOUT_GPU();
  for (int32_t head_dim : {64, 128}) {
    Case c;
    c.head_dim = head_dim;
    c.num_heads = 8;
    c.num_kv_heads = 2;
    c.seed = 300 + head_dim;
    c.seqs = {{0, 1}, {0, 16}, {0, 63}, {0, 64}, {0, 65}, {0, 200}};
    RunCase(c);
  }
}

TEST(PagedAttentionTest, DecodeBatch1And64) {
  TESSERA_SKIP_WITHOUT_GPU();
  {
    Case c;
    c.seqs = {{57, 1}};
    c.seed = 400;
    RunCase(c);
  }
  std::mt19937 rng(401);
  std::uniform_int_distribution<int64_t> len(1, 700);
  for (int32_t head_dim : {64, 128}) {
    Case c;
    c.head_dim = head_dim;
    c.num_heads = 8;
    c.num_kv_heads = 2;
    c.seed = 402 + head_dim;
    for (int i = 0; i < 64; ++i) c.seqs.push_back({len(rng) - 1, 1});
    RunCase(c);
  }
}

TEST(PagedAttentionTest, LongContextDecodeSplits) {
  TESSERA_SKIP_WITHOUT_GPU();
  // Llama-3-8B shape at batch 1 (many splits), MHA, MQA, odd blocks, just past the split
  // threshold, and a small batch of unequal long contexts.
  struct LongCase {
    int32_t head_dim, num_heads, num_kv_heads, block_size;
    std::vector<int64_t> kv_lens;
  };
  const LongCase cases[] = {
      {128, 32, 8, 16, {8192}},
      {128, 8, 8, 16, {4096}},
      {64, 16, 1, 16, {5000}},
      {128, 8, 2, 5, {3001}},
      {64, 4, 2, 16, {129}},
      {128, 8, 2, 16, {200, 257}},
      {128, 16, 4, 16, {1, 2048, 4097, 777}},
  };
  uint32_t seed = 500;
  for (const LongCase& lc : cases) {
    Case c;
    c.head_dim = lc.head_dim;
    c.num_heads = lc.num_heads;
    c.num_kv_heads = lc.num_kv_heads;
    c.block_size = lc.block_size;
    c.seed = seed++;
    for (int64_t kv_len : lc.kv_lens) c.seqs.push_back({kv_len - 1, 1});
    RunCase(c);
  }
}

TEST(PagedAttentionTest, ChunkOf512AfterA2kPrefix) {
  TESSERA_SKIP_WITHOUT_GPU();
  Case c;
  c.num_heads = 8;
  c.num_kv_heads = 2;
  c.seed = 600;
  c.seqs = {{2048, 512}, {300, 1}, {1500, 1}};
  RunCase(c);
}

TEST(PagedAttentionTest, SlidingWindow) {
  TESSERA_SKIP_WITHOUT_GPU();
  uint32_t seed = 700;
  for (int32_t head_dim : {64, 128}) {
    for (int32_t block_size : {16, 5}) {
      Case c;
      c.head_dim = head_dim;
      c.block_size = block_size;
      c.sliding_window = 40;
      c.seed = seed++;
      c.seqs = {{0, 100}, {60, 1}, {10, 1}, {200, 70}, {39, 3}, {0, 1}, {300, 1}};
      RunCase(c);
    }
  }
  // Decode split path with a window shorter than the context.
  Case c;
  c.sliding_window = 1000;
  c.seed = seed++;
  c.seqs = {{4999, 1}, {700, 1}, {1003, 1}};
  RunCase(c);
}

// Valid small arguments on real buffers, for the rejection tests.
struct SmallStep {
  DeviceBuffer<__nv_bfloat16> q, kv, out;
  DeviceBuffer<int32_t> ints;
  DeviceBuffer<uint8_t> ws;
  PagedAttentionArgs args;
  int64_t ws_bytes = 0;

  void Init() {
    args.num_seqs = 1;
    args.num_tokens = 1;
    args.num_heads = 8;
    args.num_kv_heads = 2;
    args.head_dim = 128;
    args.block_size = 16;
    args.max_q_len = 1;
    args.max_kv_len = 1;
    ASSERT_TRUE(q.Allocate(8 * 128).ok());
    ASSERT_TRUE(out.Allocate(8 * 128).ok());
    ASSERT_TRUE(kv.Allocate(2 * 16 * 2 * 128).ok());
    const std::vector<int32_t> host = {0, 1, 0, 1, 0, 1, 0};  // qo, kv_indptr, index, last, cached
    ASSERT_TRUE(ints.Allocate(host.size()).ok());
    ASSERT_TRUE(ints.CopyFromHost(host.data(), host.size()).ok());
    args.q = q.data();
    args.kv = kv.data();
    args.out = out.data();
    args.qo_indptr = ints.data();
    args.kv_indptr = ints.data() + 2;
    args.kv_indices = ints.data() + 4;
    args.kv_last_block_len = ints.data() + 5;
    args.num_cached = ints.data() + 6;
    ws_bytes = PagedAttentionWorkspaceBytes(1, 1, 8, 128);
    ASSERT_TRUE(ws.Allocate(ws_bytes).ok());
  }
};

void ExpectInvalid(const PagedAttentionArgs& args, void* ws, int64_t ws_bytes,
                   const std::string& mention) {
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  const absl::Status s = LaunchPagedAttention(args, ws, ws_bytes, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find(mention), std::string::npos) << s;
  // Nothing was launched, so nothing failed.
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

TEST(PagedAttentionTest, RejectsInvalidArguments) {
  TESSERA_SKIP_WITHOUT_GPU();
  SmallStep step;
  ASSERT_NO_FATAL_FAILURE(step.Init());
  {
    const absl::Status ok = LaunchPagedAttention(step.args, step.ws.data(), step.ws_bytes, nullptr);
    ASSERT_TRUE(ok.ok()) << ok;
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  }
  PagedAttentionArgs a = step.args;
  a.head_dim = 96;
  ExpectInvalid(a, step.ws.data(), step.ws_bytes, "96");
  a = step.args;
  a.num_heads = 6;
  a.num_kv_heads = 4;
  ExpectInvalid(a, step.ws.data(), step.ws_bytes, "num_kv_heads 4");
  a = step.args;
  a.block_size = 0;
  ExpectInvalid(a, step.ws.data(), step.ws_bytes, "block_size 0");
  a = step.args;
  a.num_kv_heads = 0;
  ExpectInvalid(a, step.ws.data(), step.ws_bytes, "num_kv_heads 0");
  a = step.args;
  a.sliding_window = -1;
  ExpectInvalid(a, step.ws.data(), step.ws_bytes, "sliding_window -1");
  a = step.args;
  a.max_q_len = 0;
  ExpectInvalid(a, step.ws.data(), step.ws_bytes, "max_q_len 0");
  ExpectInvalid(step.args, step.ws.data(), step.ws_bytes - 1, "workspace");
  ExpectInvalid(step.args, nullptr, 0, "workspace");
}

TEST(PagedAttentionTest, WorkspaceCoversTheSplitPlan) {
  TESSERA_SKIP_WITHOUT_GPU();
  // The workspace formula is monotone in the sequence count and positive.
  EXPECT_EQ(PagedAttentionWorkspaceBytes(0, 0, 32, 128), 0);
  int64_t prev = 0;
  for (int32_t seqs : {1, 2, 15, 16, 17, 64, 256, 1024}) {
    const int64_t b = PagedAttentionWorkspaceBytes(seqs, seqs, 32, 128);
    EXPECT_GE(b, prev);
    EXPECT_GT(b, 0);
    prev = b;
  }
}

TEST(PagedAttentionTest, EmptyStepIsANoOp) {
  TESSERA_SKIP_WITHOUT_GPU();
  PagedAttentionArgs a;
  a.num_heads = 8;
  a.num_kv_heads = 2;
  a.head_dim = 64;
  a.block_size = 16;
  EXPECT_TRUE(LaunchPagedAttention(a, nullptr, 0, nullptr).ok());
}

}  // namespace
}  // namespace tessera
