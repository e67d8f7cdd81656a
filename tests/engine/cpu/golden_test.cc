// Golden tests: the CPU reference engine against Hugging Face transformers (fp32, eager attention)
// on the fixture checkpoints, through the offline scheduler as `tessera generate` runs it.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "engine/cpu/cpu_engine.h"
#include "scheduler/offline_scheduler.h"
#include "tests/engine/cpu/golden_reference.h"
#include "tests/engine/test_files.h"

namespace tessera {
namespace {

constexpr double kTolerance = 1e-3;  // fp32 engine vs fp32 transformers, absolute
const std::string kFixtures = TESSERA_FIXTURES_DIR;

class GoldenTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    model_dir_ = kFixtures + "/models/" + GetParam();
    refs_ = kFixtures + "/refs/" + GetParam() + ".public";
    if (!std::filesystem::exists(model_dir_) || !std::filesystem::exists(refs_ + ".json")) {
      GTEST_SKIP() << "fixtures not found at " << kFixtures;
    }
    model_dir_ = tessera::testing::FixtureModelDir(model_dir_);  // a copy may have lost its links
    auto engine = CpuEngine::Load(model_dir_, CpuEngineOptions{});
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    cases_ = LoadGoldenCases(refs_ + ".json");
    ASSERT_EQ(cases_.size(), 8u);
  }

  std::vector<GenerateResult> Run(const std::vector<GenerateRequest>& requests,
                                  OfflineSchedulerOptions options = {}) {
    OfflineScheduler scheduler(*engine_, options);
    auto results = scheduler.Run(requests);
    EXPECT_TRUE(results.ok()) << results.status();
    if (!results.ok()) return {};
    for (const GenerateResult& r : *results) EXPECT_TRUE(r.status.ok()) << r.status;
    return *std::move(results);
  }

  std::string model_dir_, refs_;
  std::unique_ptr<CpuEngine> engine_;
  std::vector<GoldenCase> cases_;
};

TEST_P(GoldenTest, PromptLogprobsAndTop5MatchTransformers) {
  for (size_t i = 0; i < cases_.size(); ++i) {
    const GoldenCase& c = cases_[i];
    const GenerateResult r = Run({TeacherForcedRequest(c, "tf")})[0];
    ASSERT_EQ(r.prompt_logprobs.size(), c.tf_logprobs.size() + 1) << "case " << i;
    EXPECT_FALSE(r.prompt_logprobs[0].has_value());
    double worst = 0;
    for (size_t t = 0; t < c.tf_logprobs.size(); ++t) {
      ASSERT_TRUE(r.prompt_logprobs[t + 1].has_value()) << "case " << i << " position " << t;
      const LogprobEntry& e = *r.prompt_logprobs[t + 1];
      EXPECT_EQ(e.chosen.token_id, r.prompt_token_ids[t + 1]);
      worst = std::max(worst, std::abs(e.chosen.logprob - c.tf_logprobs[t]));
      ASSERT_EQ(e.top.size(), 5u);
      for (size_t k = 0; k < 5; ++k) {
        EXPECT_NEAR(e.top[k].logprob, c.top5_logprobs[t][k], kTolerance)
            << "case " << i << " position " << t << " rank " << k;
        // Ids must agree unless the reference itself has a near-tie at this rank.
        const bool tie_before =
            k > 0 && c.top5_logprobs[t][k - 1] - c.top5_logprobs[t][k] < kTolerance;
        const bool tie_after =
            k < 4 && c.top5_logprobs[t][k] - c.top5_logprobs[t][k + 1] < kTolerance;
        if (!tie_before && !tie_after) {
          EXPECT_EQ(e.top[k].token_id, c.top5_ids[t][k]) << "case " << i << " position " << t;
        }
      }
      for (size_t k = 1; k < 5; ++k) EXPECT_GE(e.top[k - 1].logprob, e.top[k].logprob);
    }
    EXPECT_LT(worst, kTolerance) << "case " << i;
  }
}

TEST_P(GoldenTest, GreedyTokensMatchUpToTheFirstNearTie) {
  for (size_t i = 0; i < cases_.size(); ++i) {
    const GoldenCase& c = cases_[i];
    const GenerateResult r = Run({GreedyRequest(c, "g")})[0];
    ASSERT_EQ(r.output_token_ids.size(), c.greedy.size()) << "case " << i;
    EXPECT_EQ(r.finish_reason, FinishReason::kLength);
    size_t compared = 0;
    for (size_t s = 0; s < c.greedy.size() && c.margins[s] >= kTolerance; ++s, ++compared) {
      ASSERT_EQ(r.output_token_ids[s], c.greedy[s]) << "case " << i << " step " << s;
      // The returned log-probability of a greedy pick is the top-1.
      EXPECT_EQ(r.logprobs[s].chosen.token_id, r.logprobs[s].top[0].token_id);
    }
    EXPECT_GT(compared, 0u) << "case " << i;
  }
}

TEST_P(GoldenTest, LastPromptLogitsMatchTransformers) {
  const std::string path = refs_ + ".last_logits.safetensors";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " not found";
  for (size_t i = 0; i < cases_.size(); ++i) {
    const std::vector<float> want = LoadLastLogits(path, static_cast<int>(i));
    const std::vector<int32_t>& prompt = cases_[i].prompt_ids;
    StepPlan plan;
    StepSequence seq;
    seq.return_last_logits = true;
    std::vector<int32_t> blocks;
    for (int32_t b = 0; b * kDefaultBlockSize < static_cast<int32_t>(prompt.size()); ++b)
      blocks.push_back(b);
    plan.AddSequence(prompt, blocks, kDefaultBlockSize, seq);
    auto result = engine_->Step(plan);
    ASSERT_TRUE(result.ok()) << result.status();
    const std::vector<float>& got = result->seqs[0].last_logits;
    ASSERT_EQ(got.size(), want.size());
    double worst = 0;
    for (size_t v = 0; v < got.size(); ++v)
      worst = std::max(worst, std::abs(double{got[v]} - want[v]));
    EXPECT_LT(worst, kTolerance) << "case " << i;
  }
}

// All eight prompts in one run give exactly what each gives alone: rows never mix.
TEST_P(GoldenTest, BatchInvariance) {
  std::vector<GenerateRequest> all;
  for (size_t i = 0; i < cases_.size(); ++i) {
    all.push_back(GreedyRequest(cases_[i], "g" + std::to_string(i)));
    all.push_back(TeacherForcedRequest(cases_[i], "tf" + std::to_string(i)));
  }
  const std::vector<GenerateResult> together = Run(all);
  ASSERT_EQ(together.size(), all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    const GenerateResult alone = Run({all[i]})[0];
    EXPECT_EQ(together[i].output_token_ids, alone.output_token_ids) << all[i].id;
    ASSERT_EQ(together[i].logprobs.size(), alone.logprobs.size());
    for (size_t s = 0; s < alone.logprobs.size(); ++s) {
      EXPECT_EQ(together[i].logprobs[s].chosen.logprob, alone.logprobs[s].chosen.logprob);
    }
    ASSERT_EQ(together[i].prompt_logprobs.size(), alone.prompt_logprobs.size());
    for (size_t t = 1; t < alone.prompt_logprobs.size(); ++t) {
      EXPECT_EQ(together[i].prompt_logprobs[t]->chosen.logprob,
                alone.prompt_logprobs[t]->chosen.logprob)
          << all[i].id << " position " << t;
    }
  }
}

// Chunked prefill (tiny token budget), small blocks and a single sequence per step all reproduce
// the default run exactly: the cache layout and chunk boundaries must not change any result.
TEST_P(GoldenTest, ChunkingAndBlockSizeDoNotChangeResults) {
  std::vector<GenerateRequest> all;
  for (size_t i = 0; i < cases_.size(); ++i)
    all.push_back(TeacherForcedRequest(cases_[i], std::to_string(i)));
  for (size_t i = 0; i < cases_.size(); ++i)
    all.push_back(GreedyRequest(cases_[i], "g" + std::to_string(i)));
  const std::vector<GenerateResult> base = Run(all);

  CpuEngineOptions small_blocks;
  small_blocks.block_size = 3;
  auto engine = CpuEngine::Load(model_dir_, small_blocks);
  ASSERT_TRUE(engine.ok()) << engine.status();
  engine_ = *std::move(engine);
  for (OfflineSchedulerOptions options :
       {OfflineSchedulerOptions{7, 256}, OfflineSchedulerOptions{64, 1}}) {
    const std::vector<GenerateResult> other = Run(all, options);
    ASSERT_EQ(other.size(), base.size());
    for (size_t i = 0; i < base.size(); ++i) {
      EXPECT_EQ(other[i].output_token_ids, base[i].output_token_ids) << all[i].id;
      for (size_t t = 1; t < base[i].prompt_logprobs.size(); ++t) {
        ASSERT_EQ(other[i].prompt_logprobs[t]->chosen.logprob,
                  base[i].prompt_logprobs[t]->chosen.logprob)
            << all[i].id << " position " << t << " budget " << options.max_num_batched_tokens;
      }
    }
  }
}

// quant-llama-{awq,gptq,fp8} are pre-quantized checkpoints of quant-llama; their references were
// computed in float64 on the dequantized weights, so they check the format loaders end to end.
INSTANTIATE_TEST_SUITE_P(Fixtures, GoldenTest,
                         ::testing::Values("tiny-llama", "tiny-qwen2", "quant-llama",
                                           "quant-llama-awq", "quant-llama-gptq",
                                           "quant-llama-fp8"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace tessera
