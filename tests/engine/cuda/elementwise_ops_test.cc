// Parity of the elementwise CUDA kernels (embedding, add + RMSNorm, SiLU * up, bias + RoPE + KV
// write) with the CPU reference ops on random inputs. Inputs the kernels read as bf16 are rounded
// to bf16 first, so both sides see identical values. Every output buffer carries poisoned guard
// elements on both sides, and its interior is poisoned before the launch, so stray writes and
// missing writes both show up.
#include <cuda_bf16.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/cpu/rms_norm.h"
#include "engine/cpu/rope.h"
#include "engine/cpu/swiglu.h"
#include "engine/cuda/add_rms_norm.cuh"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/device_buffer.h"
#include "engine/cuda/embedding.cuh"
#include "engine/cuda/rope_kv_write.cuh"
#include "engine/cuda/silu_mul.cuh"
#include "engine/model_config.h"
#include "tests/engine/cuda/gpu_test_util.h"
#include "tests/engine/cuda/guarded_buffer.h"

namespace tessera {
namespace {

using ::tessera::testing::NormalizedError;
using ::tessera::testing::RandomBf16Values;
using ::tessera::testing::ToBf16;
using ::tessera::testing::ToFloat;

using ::tessera::testing::GuardedBuffer;
using ::tessera::testing::IsPoison;
using ::tessera::testing::Upload;

std::vector<float> RandomFloats(int64_t n, float scale, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// ---------------------------------------------------------------------------------------------
// Embedding

TEST(EmbeddingCudaTest, GathersTableRowsAsFp32) {
  TESSERA_SKIP_WITHOUT_GPU();
  std::mt19937 rng(11);
  const int32_t vocab = 37;
  const std::vector<int32_t> ids = {5, 0, 36, 5, 17, 2, 36};
  const int32_t num_tokens = static_cast<int32_t>(ids.size());
  for (int32_t hidden : {64, 1000, 4096}) {
    SCOPED_TRACE(absl::StrCat("hidden ", hidden));
    const std::vector<float> table = RandomBf16Values(int64_t{vocab} * hidden, 1.0f, rng);
    DeviceBuffer<__nv_bfloat16> d_table;
    DeviceBuffer<int32_t> d_ids;
    TESSERA_ASSERT_OK(Upload(ToBf16(table), &d_table));
    TESSERA_ASSERT_OK(Upload(ids, &d_ids));
    GuardedBuffer<float> x;
    TESSERA_ASSERT_OK(x.Init(int64_t{num_tokens} * hidden));

    TESSERA_ASSERT_OK(
        LaunchEmbedding(d_table.data(), d_ids.data(), num_tokens, hidden, x.data(), nullptr));
    std::vector<float> got;
    TESSERA_ASSERT_OK(x.Download(&got));

    std::vector<float> want(got.size());
    for (int32_t t = 0; t < num_tokens; ++t) {
      std::copy_n(table.begin() + int64_t{ids[t]} * hidden, hidden, want.begin() + t * hidden);
    }
    EXPECT_LT(NormalizedError(got, want), 1e-6);
  }
}

// ---------------------------------------------------------------------------------------------
// Add + RMSNorm

TEST(AddRmsNormCudaTest, AddsDeltaAndNormalizes) {
  TESSERA_SKIP_WITHOUT_GPU();
  std::mt19937 rng(12);
  const int32_t num_rows = 5;
  const float eps = 1e-5f;
  // 64, 4096, 8192: vectorized (1 and 2 items per thread); 1000: scalar; 5000: scalar, wider
  // than the register cache.
  for (int32_t hidden : {64, 1000, 4096, 5000, 8192}) {
    for (bool with_delta : {true, false}) {
      SCOPED_TRACE(absl::StrCat("hidden ", hidden, " delta ", with_delta));
      const int64_t n = int64_t{num_rows} * hidden;
      const std::vector<float> x0 = RandomFloats(n, 2.0f, rng);
      const std::vector<float> delta = RandomBf16Values(n, 1.0f, rng);
      const std::vector<float> weight = RandomBf16Values(hidden, 1.0f, rng);
      DeviceBuffer<__nv_bfloat16> d_delta, d_weight;
      TESSERA_ASSERT_OK(Upload(ToBf16(delta), &d_delta));
      TESSERA_ASSERT_OK(Upload(ToBf16(weight), &d_weight));
      GuardedBuffer<float> x;
      TESSERA_ASSERT_OK(x.Init(n, &x0));
      GuardedBuffer<__nv_bfloat16> out;
      TESSERA_ASSERT_OK(out.Init(n));

      TESSERA_ASSERT_OK(LaunchAddRmsNorm(x.data(), with_delta ? d_delta.data() : nullptr,
                                         /*rows=*/nullptr, num_rows, hidden, d_weight.data(), eps,
                                         out.data(), nullptr));
      std::vector<float> got_x;
      std::vector<__nv_bfloat16> got_out;
      TESSERA_ASSERT_OK(x.Download(&got_x));
      TESSERA_ASSERT_OK(out.Download(&got_out));

      std::vector<float> want_x = x0;
      if (with_delta) {
        for (int64_t i = 0; i < n; ++i) want_x[i] += delta[i];
      }
      std::vector<float> want_out(n);
      RmsNorm(want_x.data(), weight.data(), num_rows, hidden, eps, want_out.data());
      EXPECT_LT(NormalizedError(got_x, want_x), 1e-6);
      EXPECT_LT(NormalizedError(ToFloat(got_out), want_out), 1e-2);
    }
  }
}

TEST(AddRmsNormCudaTest, GathersRowsWithoutTouchingX) {
  TESSERA_SKIP_WITHOUT_GPU();
  std::mt19937 rng(13);
  const int32_t x_rows = 9;
  const std::vector<int32_t> rows = {7, 0, 3, 3, 8};
  const int32_t num_rows = static_cast<int32_t>(rows.size());
  const float eps = 1e-6f;
  for (int32_t hidden : {64, 1000, 4096}) {
    SCOPED_TRACE(absl::StrCat("hidden ", hidden));
    const std::vector<float> x0 = RandomFloats(int64_t{x_rows} * hidden, 3.0f, rng);
    const std::vector<float> weight = RandomBf16Values(hidden, 1.0f, rng);
    DeviceBuffer<__nv_bfloat16> d_weight;
    DeviceBuffer<int32_t> d_rows;
    TESSERA_ASSERT_OK(Upload(ToBf16(weight), &d_weight));
    TESSERA_ASSERT_OK(Upload(rows, &d_rows));
    GuardedBuffer<float> x;
    TESSERA_ASSERT_OK(x.Init(static_cast<int64_t>(x0.size()), &x0));
    GuardedBuffer<__nv_bfloat16> out;
    TESSERA_ASSERT_OK(out.Init(int64_t{num_rows} * hidden));

    TESSERA_ASSERT_OK(LaunchAddRmsNorm(x.data(), /*delta=*/nullptr, d_rows.data(), num_rows, hidden,
                                       d_weight.data(), eps, out.data(), nullptr));
    std::vector<float> got_x;
    std::vector<__nv_bfloat16> got_out;
    TESSERA_ASSERT_OK(x.Download(&got_x));
    TESSERA_ASSERT_OK(out.Download(&got_out));

    EXPECT_EQ(std::memcmp(got_x.data(), x0.data(), x0.size() * sizeof(float)), 0)
        << "x must be left untouched in gather mode";
    std::vector<float> gathered(int64_t{num_rows} * hidden), want_out(gathered.size());
    for (int32_t r = 0; r < num_rows; ++r) {
      std::copy_n(x0.begin() + int64_t{rows[r]} * hidden, hidden, gathered.begin() + r * hidden);
    }
    RmsNorm(gathered.data(), weight.data(), num_rows, hidden, eps, want_out.data());
    EXPECT_LT(NormalizedError(ToFloat(got_out), want_out), 1e-2);
  }
}

// ---------------------------------------------------------------------------------------------
// SiLU * up

void CheckSiluMul(int32_t num_tokens, int32_t intermediate, int64_t out_offset, uint32_t seed) {
  std::mt19937 rng(seed);
  const std::vector<float> gate_up =
      RandomBf16Values(int64_t{num_tokens} * 2 * intermediate, 4.0f, rng);
  DeviceBuffer<__nv_bfloat16> d_gate_up;
  TESSERA_ASSERT_OK(Upload(ToBf16(gate_up), &d_gate_up));
  const int64_t n = int64_t{num_tokens} * intermediate;
  GuardedBuffer<__nv_bfloat16> out;
  TESSERA_ASSERT_OK(out.Init(n + out_offset));

  TESSERA_ASSERT_OK(
      LaunchSiluMul(d_gate_up.data(), num_tokens, intermediate, out.data() + out_offset, nullptr));
  std::vector<__nv_bfloat16> got;
  TESSERA_ASSERT_OK(out.Download(&got));

  for (int64_t i = 0; i < out_offset; ++i) EXPECT_TRUE(IsPoison(got[i])) << "element " << i;
  std::vector<float> want(n);
  for (int32_t t = 0; t < num_tokens; ++t) {
    const float* row = gate_up.data() + int64_t{t} * 2 * intermediate;
    SiluMul(row, row + intermediate, intermediate, want.data() + int64_t{t} * intermediate);
  }
  const std::vector<float> got_f = ToFloat(got);
  EXPECT_LT(NormalizedError(std::vector<float>(got_f.begin() + out_offset, got_f.end()), want),
            1e-2);
}

TEST(SiluMulCudaTest, MatchesCpuReference) {
  TESSERA_SKIP_WITHOUT_GPU();
  for (int32_t intermediate : {64, 1000, 4096}) {
    SCOPED_TRACE(absl::StrCat("intermediate ", intermediate));
    CheckSiluMul(/*num_tokens=*/3, intermediate, /*out_offset=*/0, 14);
  }
}

TEST(SiluMulCudaTest, MisalignedOutputTakesScalarPath) {
  TESSERA_SKIP_WITHOUT_GPU();
  // A multiple of 8 wide, but the output starts 2 bytes past a 16-byte boundary.
  CheckSiluMul(/*num_tokens=*/4, /*intermediate=*/64, /*out_offset=*/1, 15);
}

// ---------------------------------------------------------------------------------------------
// Bias + RoPE + KV write

struct RopeCase {
  int32_t num_heads;
  int32_t num_kv_heads;
  int32_t head_dim;
  bool llama3;
  bool bias;
};

void CheckRopeKvWrite(const RopeCase& c, uint32_t seed) {
  std::mt19937 rng(seed);
  const int32_t H = c.num_heads, KV = c.num_kv_heads, D = c.head_dim;
  const int32_t block_size = 16, num_blocks = 5;
  const int64_t width = int64_t{H + 2 * KV} * D;
  // The last token is padding (slot -1): it gets q but writes no KV.
  const std::vector<int32_t> positions = {0, 1, 4095, 8191, 8000, 123, 4096, 77};
  const int32_t num_tokens = static_cast<int32_t>(positions.size());
  std::vector<int32_t> all_slots(block_size * num_blocks);
  std::iota(all_slots.begin(), all_slots.end(), 0);
  std::shuffle(all_slots.begin(), all_slots.end(), rng);
  std::vector<int32_t> slots(all_slots.begin(), all_slots.begin() + num_tokens);
  slots.back() = -1;

  RopeScaling scaling;
  double theta = 10000;
  if (c.llama3) {
    scaling.type = RopeScalingType::kLlama3;
    scaling.factor = 8;
    scaling.low_freq_factor = 1;
    scaling.high_freq_factor = 4;
    scaling.original_max_position_embeddings = 8192;
    theta = 500000;
  }
  const Rope rope(D, theta, scaling);

  const std::vector<float> qkv = RandomBf16Values(int64_t{num_tokens} * width, 1.0f, rng);
  const std::vector<float> bias =
      c.bias ? RandomBf16Values(width, 0.5f, rng) : std::vector<float>(width, 0.0f);
  DeviceBuffer<__nv_bfloat16> d_qkv, d_bias;
  DeviceBuffer<int32_t> d_positions, d_slots;
  DeviceBuffer<float> d_inv_freq;
  TESSERA_ASSERT_OK(Upload(ToBf16(qkv), &d_qkv));
  if (c.bias) TESSERA_ASSERT_OK(Upload(ToBf16(bias), &d_bias));
  TESSERA_ASSERT_OK(Upload(positions, &d_positions));
  TESSERA_ASSERT_OK(Upload(slots, &d_slots));
  TESSERA_ASSERT_OK(Upload(rope.inv_freq(), &d_inv_freq));
  const int64_t slot_elems = int64_t{KV} * D;  // one slot of K (or V)
  const int64_t cache_elems = int64_t{num_blocks} * 2 * block_size * slot_elems;
  GuardedBuffer<__nv_bfloat16> q_out, cache;
  TESSERA_ASSERT_OK(q_out.Init(int64_t{num_tokens} * H * D));
  TESSERA_ASSERT_OK(cache.Init(cache_elems));

  RopeKvWriteArgs args;
  args.qkv = d_qkv.data();
  args.bias = c.bias ? d_bias.data() : nullptr;
  args.positions = d_positions.data();
  args.slots = d_slots.data();
  args.inv_freq = d_inv_freq.data();
  args.num_tokens = num_tokens;
  args.num_heads = H;
  args.num_kv_heads = KV;
  args.head_dim = D;
  args.block_size = block_size;
  args.q_out = q_out.data();
  args.kv_cache = cache.data();
  TESSERA_ASSERT_OK(LaunchRopeKvWrite(args, nullptr));
  std::vector<__nv_bfloat16> got_q, got_cache;
  TESSERA_ASSERT_OK(q_out.Download(&got_q));
  TESSERA_ASSERT_OK(cache.Download(&got_cache));

  // CPU reference: bias in fp32, then rotate q and k heads.
  std::vector<float> want_q, want_k_all, want_v_all;
  for (int32_t t = 0; t < num_tokens; ++t) {
    std::vector<float> row(width);
    for (int64_t i = 0; i < width; ++i) row[i] = qkv[t * width + i] + bias[i];
    rope.Apply(row.data(), H, positions[t]);
    rope.Apply(row.data() + int64_t{H} * D, KV, positions[t]);
    want_q.insert(want_q.end(), row.begin(), row.begin() + int64_t{H} * D);
    want_k_all.insert(want_k_all.end(), row.begin() + int64_t{H} * D,
                      row.begin() + int64_t{H + KV} * D);
    want_v_all.insert(want_v_all.end(), row.begin() + int64_t{H + KV} * D, row.end());
  }
  EXPECT_LT(NormalizedError(ToFloat(got_q), want_q), 1e-2);

  // Walk every slot of the cache: written slots against the reference, the rest still poisoned.
  std::vector<float> got_k, want_k, got_v, want_v;
  int64_t clobbered = 0;
  for (int32_t block = 0; block < num_blocks; ++block) {
    for (int32_t s = 0; s < block_size; ++s) {
      const int32_t slot = block * block_size + s;
      const auto it = std::find(slots.begin(), slots.end(), slot);
      for (int kind = 0; kind < 2; ++kind) {
        const int64_t base = ((int64_t{block} * 2 + kind) * block_size + s) * slot_elems;
        if (it == slots.end()) {
          for (int64_t i = 0; i < slot_elems; ++i) clobbered += !IsPoison(got_cache[base + i]);
          continue;
        }
        const int64_t t = it - slots.begin();
        const std::vector<float>& want_all = kind == 0 ? want_k_all : want_v_all;
        std::vector<float>& got_dst = kind == 0 ? got_k : got_v;
        std::vector<float>& want_dst = kind == 0 ? want_k : want_v;
        for (int64_t i = 0; i < slot_elems; ++i) {
          got_dst.push_back(__bfloat162float(got_cache[base + i]));
          want_dst.push_back(want_all[t * slot_elems + i]);
        }
      }
    }
  }
  EXPECT_EQ(clobbered, 0) << "elements of unwritten cache slots changed";
  ASSERT_EQ(got_k.size(), static_cast<size_t>((num_tokens - 1) * slot_elems));
  EXPECT_LT(NormalizedError(got_k, want_k), 1e-2);
  EXPECT_LT(NormalizedError(got_v, want_v), 1e-2);
}

TEST(RopeKvWriteCudaTest, MatchesCpuReference) {
  TESSERA_SKIP_WITHOUT_GPU();
  const RopeCase cases[] = {
      {32, 8, 128, /*llama3=*/false, /*bias=*/false}, {32, 8, 128, /*llama3=*/true, /*bias=*/true},
      {4, 2, 64, /*llama3=*/false, /*bias=*/true},    {4, 2, 64, /*llama3=*/true, /*bias=*/false},
      {3, 1, 40, /*llama3=*/false, /*bias=*/true},  // head_dim % 16 != 0: scalar path
  };
  uint32_t seed = 16;
  for (const RopeCase& c : cases) {
    SCOPED_TRACE(absl::StrCat("heads ", c.num_heads, " kv ", c.num_kv_heads, " head_dim ",
                              c.head_dim, " llama3 ", c.llama3, " bias ", c.bias));
    CheckRopeKvWrite(c, seed++);
  }
}

// ---------------------------------------------------------------------------------------------
// Argument validation

TEST(ElementwiseOpsCudaTest, RejectsBadArguments) {
  TESSERA_SKIP_WITHOUT_GPU();
  // Real (small) device buffers, so a validation slip cannot hand the kernel host pointers.
  DeviceBuffer<__nv_bfloat16> bf16;
  DeviceBuffer<float> f32;
  DeviceBuffer<int32_t> i32;
  TESSERA_ASSERT_OK(bf16.Allocate(1024));
  TESSERA_ASSERT_OK(f32.Allocate(1024));
  TESSERA_ASSERT_OK(i32.Allocate(16));
  using ::testing::HasSubstr;

  RopeKvWriteArgs args;
  args.qkv = bf16.data();
  args.positions = i32.data();
  args.slots = i32.data();
  args.inv_freq = f32.data();
  args.num_tokens = 1;
  args.num_heads = 2;
  args.num_kv_heads = 1;
  args.block_size = 16;
  args.q_out = bf16.data();
  args.kv_cache = bf16.data();
  for (int32_t head_dim : {63, 0, -2, 258}) {
    args.head_dim = head_dim;
    const absl::Status s = LaunchRopeKvWrite(args, nullptr);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << head_dim;
    EXPECT_THAT(s.message(), HasSubstr("head_dim")) << head_dim;
  }
  args.head_dim = 8;
  args.block_size = 0;
  EXPECT_THAT(LaunchRopeKvWrite(args, nullptr).message(), HasSubstr("block_size"));

  absl::Status s = LaunchAddRmsNorm(f32.data(), bf16.data(), i32.data(), 1, 8, bf16.data(), 1e-5f,
                                    bf16.data(), nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("rows"));
  s = LaunchAddRmsNorm(f32.data(), nullptr, nullptr, 1, 0, bf16.data(), 1e-5f, bf16.data(),
                       nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("hidden"));

  s = LaunchEmbedding(bf16.data(), i32.data(), 1, 0, f32.data(), nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("hidden"));
  s = LaunchSiluMul(bf16.data(), 1, -4, bf16.data(), nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("intermediate"));
  s = LaunchSiluMul(bf16.data(), -1, 8, bf16.data(), nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("num_tokens"));
}

TEST(ElementwiseOpsCudaTest, ZeroTokensIsANoOp) {
  TESSERA_SKIP_WITHOUT_GPU();
  EXPECT_TRUE(LaunchEmbedding(nullptr, nullptr, 0, 64, nullptr, nullptr).ok());
  EXPECT_TRUE(
      LaunchAddRmsNorm(nullptr, nullptr, nullptr, 0, 64, nullptr, 1e-5f, nullptr, nullptr).ok());
  EXPECT_TRUE(LaunchSiluMul(nullptr, 0, 64, nullptr, nullptr).ok());
  RopeKvWriteArgs args;
  args.num_heads = 4;
  args.num_kv_heads = 2;
  args.head_dim = 64;
  args.block_size = 16;
  EXPECT_TRUE(LaunchRopeKvWrite(args, nullptr).ok());
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

}  // namespace
}  // namespace tessera
