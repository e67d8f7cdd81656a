// Copy-on-write of KV blocks on the CUDA engine. The copy kernel against a host copy (bit-exact,
// nothing else touched), then the fork scenario of tests/engine/cpu/block_copy_test.cc on the
// fixture model: the forked sequence computes what an unshared one does, the source block stays
// as it was, and both agree with the CPU engine within bf16 tolerance; eager and graph steps.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/cpu/cpu_engine.h"
#include "engine/cuda/copy_kv_blocks.cuh"
#include "engine/cuda/cuda_engine.h"
#include "engine/cuda/device_buffer.h"
#include "tests/engine/cuda/gpu_test_util.h"

namespace tessera {
namespace {

const std::string kFixtures = ::tessera::testing::FixturesDir();

constexpr double kBf16Tolerance = 2e-2;  // normalized logits error vs CPU, as cuda_golden_test
// The same kernels on the same KV: only reduction order could differ, and it does not here.
constexpr double kSameDeviceTolerance = 1e-3;

std::vector<uint16_t> Bits(const std::vector<__nv_bfloat16>& v) {
  std::vector<uint16_t> out(v.size());
  std::memcpy(out.data(), v.data(), v.size() * sizeof(uint16_t));
  return out;
}

// Copies `pairs` on the device in a cache of `layers` x `blocks` blocks of `block_elems`, placed
// `offset` elements after the allocation's start, and compares the whole allocation (guard
// elements around the cache included) with the same copies made on the host.
void CheckCopyKernel(int32_t layers, int32_t blocks, int64_t block_elems, int64_t offset,
                     const std::vector<int32_t>& pairs) {
  std::mt19937 rng(7);
  const int64_t cache = int64_t{layers} * blocks * block_elems, guard = 16;
  const int64_t total = offset + cache + guard;
  std::vector<__nv_bfloat16> want =
      ::tessera::testing::ToBf16(::tessera::testing::RandomBf16Values(total, 1.0f, rng));
  DeviceBuffer<__nv_bfloat16> d_kv;
  DeviceBuffer<int32_t> d_pairs;
  ASSERT_TRUE(d_kv.Allocate(total).ok());
  ASSERT_TRUE(d_pairs.Allocate(static_cast<int64_t>(pairs.size())).ok());
  ASSERT_TRUE(d_kv.CopyFromHost(want.data(), total).ok());
  ASSERT_TRUE(d_pairs.CopyFromHost(pairs.data(), static_cast<int64_t>(pairs.size())).ok());

  CopyKvBlocksArgs a;
  a.kv_cache = d_kv.data() + offset;
  a.pairs = d_pairs.data();
  a.num_pairs = static_cast<int32_t>(pairs.size() / 2);
  a.num_layers = layers;
  a.num_blocks = blocks;
  a.block_elems = block_elems;
  const absl::Status launched = LaunchCopyKvBlocks(a, nullptr);
  ASSERT_TRUE(launched.ok()) << launched;
  std::vector<__nv_bfloat16> got(total);
  ASSERT_TRUE(d_kv.CopyToHost(got.data(), total).ok());

  for (size_t p = 0; p + 1 < pairs.size(); p += 2) {
    for (int64_t l = 0; l < layers; ++l) {
      const int64_t base = offset + l * blocks * block_elems;
      std::memcpy(&want[base + pairs[p + 1] * block_elems], &want[base + pairs[p] * block_elems],
                  block_elems * sizeof(__nv_bfloat16));
    }
  }
  EXPECT_EQ(Bits(got), Bits(want));
}

TEST(CopyKvBlocksTest, MatchesHostCopyBitExactly) {
  TESSERA_SKIP_WITHOUT_GPU();
  // One source forked twice, and an unrelated copy; blocks 3 and 5 untouched.
  const std::vector<int32_t> pairs = {1, 4, 1, 0, 2, 6};
  // 16-byte path: 2 (K, V) x 4 slots x 2 heads x 8 dims.
  CheckCopyKernel(3, 7, 128, 0, pairs);
  // Scalar paths: a block of 30 elements, and a misaligned cache base.
  CheckCopyKernel(3, 7, 30, 0, pairs);
  CheckCopyKernel(3, 7, 128, 1, pairs);
  // More (pair, layer) jobs than one grid column holds.
  std::vector<int32_t> many;
  for (int32_t i = 0; i < 700; ++i) many.insert(many.end(), {i % 100, 100 + i});
  CheckCopyKernel(100, 800, 8, 0, many);
}

// Argument checks come before any CUDA call: these run without a device.
TEST(CopyKvBlocksTest, RejectsBadArguments) {
  CopyKvBlocksArgs a;
  a.num_pairs = -1;
  EXPECT_TRUE(absl::IsInvalidArgument(LaunchCopyKvBlocks(a, nullptr)));
  a.num_pairs = 0;  // nothing to copy: nothing is launched
  EXPECT_TRUE(LaunchCopyKvBlocks(a, nullptr).ok());
  a.num_pairs = 1;
  a.num_layers = 2;
  a.num_blocks = 4;
  a.block_elems = 8;
  EXPECT_TRUE(absl::IsInvalidArgument(LaunchCopyKvBlocks(a, nullptr)));  // null pointers
  a.block_elems = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(LaunchCopyKvBlocks(a, nullptr)));
}

CudaEngineOptions SmallEngineOptions() {
  CudaEngineOptions o;
  o.num_kv_blocks = 2048;  // the fixtures are tiny; leave the card alone
  o.max_num_tokens = 2048;
  return o;
}

constexpr int32_t kBs = kDefaultBlockSize;
// The shared prompt fills block a and 5 slots of block b.
constexpr int32_t kPromptLen = kBs + 5;
constexpr int32_t kA = 10, kB = 11, kC = 12;

std::vector<int32_t> Prompt(int64_t vocab) {
  std::vector<int32_t> p;
  for (int32_t i = 0; i < kPromptLen; ++i) p.push_back(static_cast<int32_t>((7 * i + 3) % vocab));
  return p;
}

struct FeedOptions {
  bool logits = true;  // graph steps return no logits
  int32_t num_logprobs = 0;
};

SequenceOutput RunOne(Engine& engine, const std::vector<int32_t>& tokens,
                      const std::vector<int32_t>& blocks, int64_t cached,
                      std::vector<BlockCopy> copies = {}, FeedOptions feed = {}) {
  StepPlan plan;
  StepSequence s;
  s.num_cached_tokens = cached;
  s.sample = true;
  s.return_last_logits = feed.logits;
  s.sampling.num_logprobs = feed.num_logprobs;
  plan.AddSequence(tokens, blocks, kBs, s);
  plan.block_copies = std::move(copies);
  absl::StatusOr<StepResult> r = engine.Step(plan);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok() || r->seqs.size() != 1) return {};
  return r->seqs[0];
}

// The fork scenario, the same plans on any engine. The original holds the prompt in [a, b]; the
// fork copies b -> c and feeds z, w into c; the original then feeds x into b. Each is also run on
// an unshared prefill of the prompt (blocks 20, 21 and 30, 31) for reference.
struct ForkRun {
  SequenceOutput fork_z, fork_w, orig_x;
  SequenceOutput ref_z, ref_w, ref_x;
};

ForkRun RunFork(Engine& e) {
  const std::vector<int32_t> prompt = Prompt(e.config().vocab_size);
  const int32_t x = 11, z = 29, w = 31;
  ForkRun r;
  RunOne(e, prompt, {kA, kB}, 0);
  r.fork_z = RunOne(e, {z}, {kA, kC}, kPromptLen, {{kB, kC}});
  r.fork_w = RunOne(e, {w}, {kA, kC}, kPromptLen + 1);
  r.orig_x = RunOne(e, {x}, {kA, kB}, kPromptLen);
  RunOne(e, prompt, {20, 21}, 0);
  r.ref_z = RunOne(e, {z}, {20, 21}, kPromptLen);
  r.ref_w = RunOne(e, {w}, {20, 21}, kPromptLen + 1);
  RunOne(e, prompt, {30, 31}, 0);
  r.ref_x = RunOne(e, {x}, {30, 31}, kPromptLen);
  return r;
}

double Err(const SequenceOutput& got, const SequenceOutput& want) {
  EXPECT_FALSE(want.last_logits.empty());
  EXPECT_EQ(got.last_logits.size(), want.last_logits.size());
  if (got.last_logits.size() != want.last_logits.size() || want.last_logits.empty()) return 1;
  return ::tessera::testing::NormalizedError(got.last_logits, want.last_logits);
}

class CudaBlockCopyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TESSERA_SKIP_WITHOUT_GPU();
    model_dir_ = kFixtures + "/models/tiny-llama";
    if (!std::filesystem::exists(model_dir_)) GTEST_SKIP() << "fixtures not found at " << kFixtures;
  }

  std::unique_ptr<CudaEngine> Gpu(bool cuda_graphs) {
    CudaEngineOptions o = SmallEngineOptions();
    o.cuda_graphs = cuda_graphs;
    auto e = CudaEngine::Load(model_dir_, o);
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? *std::move(e) : nullptr;
  }

  std::string model_dir_;
};

TEST_F(CudaBlockCopyTest, ForkMatchesUnsharedRunsAndTheCpuEngine) {
  std::unique_ptr<CudaEngine> gpu = Gpu(false);
  ASSERT_NE(gpu, nullptr);
  auto cpu = CpuEngine::Load(model_dir_, CpuEngineOptions{});
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  const ForkRun g = RunFork(*gpu);
  const ForkRun c = RunFork(**cpu);

  // The CPU oracle: sharing changes nothing, exactly.
  EXPECT_EQ(c.fork_z.last_logits, c.ref_z.last_logits);
  EXPECT_EQ(c.fork_w.last_logits, c.ref_w.last_logits);
  EXPECT_EQ(c.orig_x.last_logits, c.ref_x.last_logits);
  // The device: the fork and the original (whose block b the fork copied and never wrote) as
  // unshared sequences, and as the CPU engine.
  const struct {
    const char* name;
    const SequenceOutput &got, &ref, &cpu;
  } rows[] = {{"fork z", g.fork_z, g.ref_z, c.fork_z},
              {"fork w", g.fork_w, g.ref_w, c.fork_w},
              {"original x", g.orig_x, g.ref_x, c.orig_x}};
  for (const auto& row : rows) {
    EXPECT_LT(Err(row.got, row.ref), kSameDeviceTolerance) << row.name;
    EXPECT_EQ(row.got.sampled_token, row.ref.sampled_token) << row.name;
    const double vs_cpu = Err(row.got, row.cpu);
    EXPECT_LT(vs_cpu, kBf16Tolerance) << row.name;
    std::printf("[ %s ] normalized logits error vs CPU %.2e\n", row.name, vs_cpu);
  }
}

// Copies alone, with no sequence: an empty result, and the copies are there for the next step.
TEST_F(CudaBlockCopyTest, CopyOnlyStep) {
  std::unique_ptr<CudaEngine> gpu = Gpu(false);
  ASSERT_NE(gpu, nullptr);
  const std::vector<int32_t> prompt = Prompt(gpu->config().vocab_size);
  const int32_t next = RunOne(*gpu, prompt, {kA, kB}, 0).sampled_token;
  ASSERT_GE(next, 0);
  StepPlan copies;
  copies.block_copies = {{kB, kC}, {kB, 13}};
  absl::StatusOr<StepResult> r = gpu->Step(copies);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->seqs.empty());
  const SequenceOutput via_c = RunOne(*gpu, {next}, {kA, kC}, kPromptLen);
  const SequenceOutput via_13 = RunOne(*gpu, {next}, {kA, 13}, kPromptLen);
  const SequenceOutput via_b = RunOne(*gpu, {next}, {kA, kB}, kPromptLen);
  EXPECT_LT(Err(via_c, via_b), kSameDeviceTolerance);
  EXPECT_LT(Err(via_13, via_b), kSameDeviceTolerance);
}

// Decode steps replayed from CUDA graphs: the forking step's copy runs eagerly before the replay,
// and the fork then decodes greedily exactly as the original does from the shared prompt.
TEST_F(CudaBlockCopyTest, ForkingDecodeStepUnderCudaGraphs) {
  std::unique_ptr<CudaEngine> gpu = Gpu(true);
  ASSERT_NE(gpu, nullptr);
  const std::vector<int32_t> prompt = Prompt(gpu->config().vocab_size);
  const int32_t first = RunOne(*gpu, prompt, {kA, kB}, 0).sampled_token;  // prefill: eager
  ASSERT_GE(first, 0);
  const FeedOptions graph_step{.logits = false, .num_logprobs = 1};
  auto decode = [&](int32_t last_block, std::vector<BlockCopy> copies) {
    std::vector<SequenceOutput> out;
    int32_t token = first;
    for (int32_t i = 0; i < 5; ++i) {
      out.push_back(RunOne(*gpu, {token}, {kA, last_block}, kPromptLen + i,
                           i == 0 ? copies : std::vector<BlockCopy>{}, graph_step));
      token = out.back().sampled_token;
    }
    return out;
  };
  const std::vector<SequenceOutput> fork = decode(kC, {{kB, kC}});
  const std::vector<SequenceOutput> original = decode(kB, {});
  for (size_t i = 0; i < fork.size(); ++i) {
    EXPECT_EQ(fork[i].sampled_token, original[i].sampled_token) << "step " << i;
    ASSERT_TRUE(fork[i].sample_logprobs.has_value());
    ASSERT_TRUE(original[i].sample_logprobs.has_value());
    EXPECT_NEAR(fork[i].sample_logprobs->chosen.logprob,
                original[i].sample_logprobs->chosen.logprob, 1e-3)
        << "step " << i;
  }
}

}  // namespace
}  // namespace tessera
