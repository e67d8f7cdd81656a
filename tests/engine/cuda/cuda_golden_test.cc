// The CUDA engine (bf16) on the fixture checkpoints: against transformers' fp32 references within
// twice the deviation of transformers' own bf16 run, and against the CPU engine step by step.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "engine/cpu/cpu_engine.h"
#include "engine/cuda/cuda_engine.h"
#include "engine/logit_processors.h"
#include "engine/memory_plan.h"
#include "engine/model_config.h"
#include "engine/sampler.h"
#include "scheduler/offline_scheduler.h"
#include "tests/engine/cpu/golden_reference.h"
#include "tests/engine/cuda/gpu_test_util.h"
#include "tests/engine/test_files.h"

namespace tessera {
namespace {

const std::string kFixtures = ::tessera::testing::FixturesDir();

CudaEngineOptions SmallEngineOptions() {
  CudaEngineOptions o;
  o.num_kv_blocks = 2048;  // the fixtures are tiny; leave the card alone
  o.max_num_tokens = 2048;
  return o;
}

class CudaGoldenTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    TESSERA_SKIP_WITHOUT_GPU();
    model_dir_ = kFixtures + "/models/" + GetParam();
    refs_ = kFixtures + "/refs/" + GetParam() + ".public";
    if (!std::filesystem::exists(model_dir_) || !std::filesystem::exists(refs_ + ".json")) {
      GTEST_SKIP() << "fixtures not found at " << kFixtures;
    }
    model_dir_ = ::tessera::testing::FixtureModelDir(model_dir_);  // quant-llama-*: links
    auto engine = CudaEngine::Load(model_dir_, SmallEngineOptions());
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    cases_ = LoadGoldenCases(refs_ + ".json");
    ASSERT_EQ(cases_.size(), 8u);
  }

  std::vector<GenerateResult> Run(Engine& engine, const std::vector<GenerateRequest>& requests) {
    OfflineScheduler scheduler(engine, OfflineSchedulerOptions{});
    auto results = scheduler.Run(requests);
    EXPECT_TRUE(results.ok()) << results.status();
    if (!results.ok()) return {};
    for (const GenerateResult& r : *results) EXPECT_TRUE(r.status.ok()) << r.status;
    return *std::move(results);
  }

  std::string model_dir_, refs_;
  std::unique_ptr<CudaEngine> engine_;
  std::vector<GoldenCase> cases_;
};

// Prompt log-probabilities of prompt + greedy within twice transformers' own bf16 deviation.
TEST_P(CudaGoldenTest, PromptLogprobsWithinTwiceTheBf16Deviation) {
  for (size_t i = 0; i < cases_.size(); ++i) {
    const GoldenCase& c = cases_[i];
    const double tolerance = 2 * c.bf16_max_abs_logprob_dev;
    ASSERT_GT(tolerance, 0) << "case " << i;
    const GenerateResult r = Run(*engine_, {TeacherForcedRequest(c, "tf")})[0];
    ASSERT_EQ(r.prompt_logprobs.size(), c.tf_logprobs.size() + 1) << "case " << i;
    double worst = 0;
    for (size_t t = 0; t < c.tf_logprobs.size(); ++t) {
      ASSERT_TRUE(r.prompt_logprobs[t + 1].has_value()) << "case " << i << " position " << t;
      const LogprobEntry& e = *r.prompt_logprobs[t + 1];
      ASSERT_TRUE(std::isfinite(e.chosen.logprob));
      worst = std::max(worst, std::abs(e.chosen.logprob - c.tf_logprobs[t]));
      ASSERT_EQ(e.top.size(), 5u);
      for (size_t k = 1; k < 5; ++k) EXPECT_GE(e.top[k - 1].logprob, e.top[k].logprob);
      EXPECT_NEAR(e.top[0].logprob, c.top5_logprobs[t][0], tolerance)
          << "case " << i << " position " << t;
    }
    EXPECT_LT(worst, tolerance) << "case " << i;
    std::printf("[ case %zu ] worst |dlogprob| %.5f (bf16 reference deviation %.5f)\n", i, worst,
                c.bf16_max_abs_logprob_dev);
  }
}

// Greedy tokens equal the reference's until the first step whose margin bf16 could flip.
TEST_P(CudaGoldenTest, GreedyTokensMatchUpToTheFirstNearTie) {
  for (size_t i = 0; i < cases_.size(); ++i) {
    const GoldenCase& c = cases_[i];
    const double tie = 2 * c.bf16_max_abs_logprob_dev;
    const GenerateResult r = Run(*engine_, {GreedyRequest(c, "g")})[0];
    ASSERT_EQ(r.output_token_ids.size(), c.greedy.size()) << "case " << i;
    for (size_t s = 0; s < c.greedy.size() && c.margins[s] >= tie; ++s) {
      ASSERT_EQ(r.output_token_ids[s], c.greedy[s]) << "case " << i << " step " << s;
    }
  }
}

// Step by step against the CPU reference engine: last-position logits of every prompt.
TEST_P(CudaGoldenTest, LastLogitsMatchTheCpuEngine) {
  auto cpu = CpuEngine::Load(model_dir_, CpuEngineOptions{});
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  for (size_t i = 0; i < cases_.size(); ++i) {
    const std::vector<int32_t>& prompt = cases_[i].prompt_ids;
    StepPlan plan;
    StepSequence seq;
    seq.return_last_logits = true;
    std::vector<int32_t> blocks;
    // Scattered block ids: the page table, not contiguity, must place each token.
    for (int32_t b = 0; b * kDefaultBlockSize < static_cast<int32_t>(prompt.size()); ++b)
      blocks.push_back(1000 - 7 * b);
    plan.AddSequence(prompt, blocks, kDefaultBlockSize, seq);
    auto want = (*cpu)->Step(plan);
    auto got = engine_->Step(plan);
    ASSERT_TRUE(want.ok()) << want.status();
    ASSERT_TRUE(got.ok()) << got.status();
    const double err =
        testing::NormalizedError(got->seqs[0].last_logits, want->seqs[0].last_logits);
    EXPECT_LT(err, 2e-2) << "case " << i;
    std::printf("[ case %zu ] last-logits normalized error vs CPU %.2e\n", i, err);
  }
}

// All prompts in one ragged batch give the greedy tokens each gives alone.
TEST_P(CudaGoldenTest, BatchedGreedyMatchesAlone) {
  std::vector<GenerateRequest> all;
  for (size_t i = 0; i < cases_.size(); ++i)
    all.push_back(GreedyRequest(cases_[i], std::to_string(i)));
  const std::vector<GenerateResult> together = Run(*engine_, all);
  ASSERT_EQ(together.size(), all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    const GenerateResult alone = Run(*engine_, {all[i]})[0];
    const GoldenCase& c = cases_[i];
    for (size_t s = 0; s < c.greedy.size() && c.margins[s] >= 2 * c.bf16_max_abs_logprob_dev; ++s) {
      ASSERT_EQ(together[i].output_token_ids[s], alone.output_token_ids[s])
          << "case " << i << " step " << s;
    }
  }
}

// Decode steps replayed from CUDA graphs give what eager steps give: the same greedy tokens and
// log-probabilities within rounding (a graph's attention is split for its context bucket, an eager
// step's for its own length), alone and padded to a bucket.
TEST_P(CudaGoldenTest, CudaGraphDecodingMatchesEager) {
  ASSERT_FALSE(SmallEngineOptions().cuda_graphs);  // engine_ runs eagerly
  CudaEngineOptions graph_options = SmallEngineOptions();
  graph_options.cuda_graphs = true;
  auto graphs = CudaEngine::Load(model_dir_, graph_options);
  ASSERT_TRUE(graphs.ok()) << graphs.status();
  CudaEngine* eager = engine_.get();
  for (size_t i = 0; i < 2; ++i) {
    const GenerateResult a = Run(**graphs, {GreedyRequest(cases_[i], "g")})[0];
    const GenerateResult b = Run(*eager, {GreedyRequest(cases_[i], "g")})[0];
    EXPECT_EQ(a.output_token_ids, b.output_token_ids) << "case " << i;
    ASSERT_EQ(a.logprobs.size(), b.logprobs.size());
    for (size_t s = 0; s < a.logprobs.size(); ++s) {
      EXPECT_NEAR(a.logprobs[s].chosen.logprob, b.logprobs[s].chosen.logprob,
                  cases_[i].bf16_max_abs_logprob_dev)
          << "case " << i << " step " << s;
    }
  }
  // Five sequences decode in a bucket of eight: three padding rows ride along.
  std::vector<GenerateRequest> five;
  for (size_t i = 0; i < 5; ++i) five.push_back(GreedyRequest(cases_[i], std::to_string(i)));
  const std::vector<GenerateResult> a = Run(**graphs, five);
  const std::vector<GenerateResult> b = Run(*eager, five);
  for (size_t i = 0; i < five.size(); ++i) {
    const GoldenCase& c = cases_[i];
    for (size_t s = 0; s < c.greedy.size() && c.margins[s] >= 2 * c.bf16_max_abs_logprob_dev; ++s) {
      ASSERT_EQ(a[i].output_token_ids[s], b[i].output_token_ids[s]) << "case " << i << " " << s;
      EXPECT_NEAR(a[i].logprobs[s].chosen.logprob, b[i].logprobs[s].chosen.logprob,
                  c.bf16_max_abs_logprob_dev)
          << "case " << i << " step " << s;
    }
  }
}

// Logits of the CPU engine at the last position of `tokens` (a fresh sequence in blocks 0..).
std::vector<float> CpuLastLogits(CpuEngine& cpu, const std::vector<int32_t>& tokens) {
  StepPlan plan;
  StepSequence seq;
  seq.return_last_logits = true;
  std::vector<int32_t> blocks;
  for (int32_t b = 0; b * kDefaultBlockSize < static_cast<int32_t>(tokens.size()); ++b)
    blocks.push_back(b);
  plan.AddSequence(tokens, blocks, kDefaultBlockSize, seq);
  auto result = cpu.Step(plan);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? result->seqs[0].last_logits : std::vector<float>{};
}

// Whether `token` is kept by the cuts of `s` applied, with slack, to `processed` logits: top-k
// + 2, top-p + 0.05 and half the min-p, so that bf16's logit error cannot move a rightly kept
// token out. Definitions as in engine/sampler.h, by a full sort.
bool KeptWithSlack(const std::vector<float>& processed, const SamplingParams& s, int32_t token) {
  const double max = *std::max_element(processed.begin(), processed.end());
  std::vector<double> p(processed.size());
  double z = 0;
  for (size_t i = 0; i < p.size(); ++i) z += p[i] = std::exp((processed[i] - max) / s.temperature);
  std::vector<int32_t> order(p.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int32_t>(i);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return p[a] > p[b]; });
  const size_t k = std::min(order.size(), static_cast<size_t>(s.top_k + 2));
  double mass = 0;
  for (size_t j = 0; j < k; ++j) mass += p[order[j]];
  double acc = 0;
  for (size_t j = 0; j < k; ++j) {
    if (order[j] == token) return p[token] >= s.min_p / 2 * p[order[0]];
    acc += p[order[j]];
    if (acc >= std::min(1.0, s.top_p + 0.05) * mass) return false;
  }
  return false;
}

// A seeded request with every cut and penalty: the CUDA engine samples it on the host from its
// bf16 logits; replayed step by step on the CPU engine's fp32 logits, each CUDA token is kept by
// the cuts (with slack) and is, at most steps, the very token the CPU engine would draw. A draw
// can differ where bf16 moves a CDF boundary across the counter-based target, so a few of the 24
// steps may. Run alone and beside GPU-sampled greedy requests, whose tokens must not change.
TEST_P(CudaGoldenTest, SeededCutsAndPenaltiesFollowTheCpuEngine) {
  auto cpu = CpuEngine::Load(model_dir_, CpuEngineOptions{});
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  SamplerScratch scratch;
  for (size_t i : {0, 3, 5}) {
    const GoldenCase& c = cases_[i];
    const GenerateRequest seeded = SeededSamplingRequest(c, "s", 500 + i);
    const GenerateRequest greedy = GreedyRequest(c, "g");
    const std::vector<GenerateResult> mixed = Run(*engine_, {greedy, seeded});
    const GenerateResult alone = Run(*engine_, {seeded})[0];
    ASSERT_EQ(mixed.size(), 2u);
    const GenerateResult greedy_alone = Run(*engine_, {greedy})[0];
    for (size_t s = 0; s < c.greedy.size() && c.margins[s] >= 2 * c.bf16_max_abs_logprob_dev; ++s) {
      ASSERT_EQ(mixed[0].output_token_ids[s], greedy_alone.output_token_ids[s]) << "case " << i;
    }
    for (const GenerateResult* r : {&alone, &mixed[1]}) {
      ASSERT_EQ(r->output_token_ids.size(), 24u) << "case " << i;
      ASSERT_EQ(r->logprobs.size(), 24u) << "case " << i;
      std::vector<int32_t> tokens = seeded.prompt_token_ids;
      int same = 0;
      for (size_t t = 0; t < 24; ++t) {
        const int32_t got = r->output_token_ids[t];
        EXPECT_EQ(r->logprobs[t].chosen.token_id, got);
        std::vector<float> logits = CpuLastLogits(**cpu, tokens);
        ASSERT_FALSE(logits.empty());
        const absl::Span<const int32_t> outputs(r->output_token_ids.data(), t);
        const SamplingHistory history{seeded.prompt_token_ids, outputs, {}};
        const int32_t want =
            SampleToken(logits, seeded.sampling, history, static_cast<int64_t>(t), &scratch);
        same += got == want ? 1 : 0;
        ApplyLogitProcessors(seeded.sampling, history, absl::MakeSpan(logits), &scratch.processors);
        EXPECT_TRUE(KeptWithSlack(logits, seeded.sampling, got))
            << "case " << i << " step " << t << " token " << got;
        tokens.push_back(got);
      }
      EXPECT_GE(same, 18) << "case " << i;
      std::printf("[ case %zu ] %d of 24 seeded tokens are the CPU engine's draw\n", i, same);
    }
  }
}

// The quantized fixtures run the packed-weight kernels (W4A16 AWQ and GPTQ, FP8) on the same
// bar: their references are transformers' fp32 run of the dequantized weights.
INSTANTIATE_TEST_SUITE_P(Fixtures, CudaGoldenTest,
                         ::testing::Values("tiny-llama", "tiny-qwen2", "quant-llama-awq",
                                           "quant-llama-gptq", "quant-llama-fp8"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

TEST(CudaEngineTest, RejectsImpossibleMemoryPlanWithNumbers) {
  TESSERA_SKIP_WITHOUT_GPU();
  const std::string dir = kFixtures + "/models/tiny-llama";
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "fixtures not found";
  CudaEngineOptions o = SmallEngineOptions();
  o.num_kv_blocks = 1 << 30;
  auto engine = CudaEngine::Load(dir, o);
  ASSERT_FALSE(engine.ok());
  EXPECT_TRUE(absl::IsResourceExhausted(engine.status())) << engine.status();
  EXPECT_NE(engine.status().message().find("KV blocks"), std::string::npos) << engine.status();
}

// `tessera plan` computes the engine's figures without a GPU: the loaded engine's weights and
// workspace are what engine/memory_plan.h says, and so is its KV block count for a card with
// nothing else on it; --max-model-len caps the context.
TEST(CudaEngineTest, MemoryPlanIsTheSharedArithmetic) {
  TESSERA_SKIP_WITHOUT_GPU();
  const std::string dir = kFixtures + "/models/tiny-llama";
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "fixtures not found";
  CudaEngineOptions o = SmallEngineOptions();
  o.max_loras = 4;
  o.max_lora_rank = 16;
  o.max_model_len = 1000;
  auto engine = CudaEngine::Load(dir, o);
  ASSERT_TRUE(engine.ok()) << engine.status();
  absl::StatusOr<ModelConfig> config = LoadModelConfig(dir);
  ASSERT_TRUE(config.ok());
  EXPECT_EQ((*engine)->config().max_position_embeddings, 1000);
  CudaMemoryOptions m;
  m.block_size = o.block_size;
  m.num_kv_blocks = o.num_kv_blocks;
  m.max_num_tokens = o.max_num_tokens;
  m.max_num_seqs = o.max_num_seqs;
  m.max_loras = o.max_loras;
  m.max_lora_rank = o.max_lora_rank;
  m.max_model_len = o.max_model_len;
  const MemoryPlanInputs in = CudaMemoryPlanInputs(*config, m);
  const MemoryPlan& plan = (*engine)->memory_plan();
  EXPECT_EQ(plan.weight_bytes, CudaBf16WeightBytes(*config));
  EXPECT_EQ(plan.workspace_bytes, in.workspace_bytes);
  EXPECT_EQ(plan.num_kv_blocks, o.num_kv_blocks);
  EXPECT_EQ(plan.kv_bytes, int64_t{o.num_kv_blocks} * in.kv_bytes_per_block);
}

TEST(CudaEngineTest, RejectsOversizedStep) {
  TESSERA_SKIP_WITHOUT_GPU();
  const std::string dir = kFixtures + "/models/tiny-llama";
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "fixtures not found";
  CudaEngineOptions o = SmallEngineOptions();
  o.max_num_tokens = 8;
  o.max_num_seqs = 8;
  auto engine = CudaEngine::Load(dir, o);
  ASSERT_TRUE(engine.ok()) << engine.status();
  StepPlan plan;
  StepSequence seq;
  seq.sample = true;
  plan.AddSequence(std::vector<int32_t>(9, 1), {0}, kDefaultBlockSize, seq);
  auto r = (*engine)->Step(plan);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
}

}  // namespace
}  // namespace tessera
