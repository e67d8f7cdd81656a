// Seeded sampling with cuts and penalties on the CPU engine and the fixture checkpoints, through
// the offline scheduler: the tokens depend on the request alone, never on what shares its batches
// or on how its prompt is chunked, and the returned log-probabilities are the raw model's.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "engine/cpu/cpu_engine.h"
#include "scheduler/offline_scheduler.h"
#include "tests/engine/cpu/golden_reference.h"

namespace tessera {
namespace {

const std::string kFixtures = TESSERA_FIXTURES_DIR;

class SeededSamplingTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string model_dir = kFixtures + "/models/" + GetParam();
    const std::string refs = kFixtures + "/refs/" + GetParam() + ".public.json";
    if (!std::filesystem::exists(model_dir) || !std::filesystem::exists(refs)) {
      GTEST_SKIP() << "fixtures not found at " << kFixtures;
    }
    auto engine = CpuEngine::Load(model_dir, CpuEngineOptions{});
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    cases_ = LoadGoldenCases(refs);
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

  std::unique_ptr<CpuEngine> engine_;
  std::vector<GoldenCase> cases_;
};

TEST_P(SeededSamplingTest, AloneBatchedAndChunkedGiveTheSameTokens) {
  std::vector<GenerateRequest> batch;
  for (size_t i = 0; i < cases_.size(); ++i) {
    batch.push_back(GreedyRequest(cases_[i], "g" + std::to_string(i)));
    batch.push_back(SeededSamplingRequest(cases_[i], "s" + std::to_string(i), 1000 + i));
  }
  const std::vector<GenerateResult> together = Run(batch);
  const std::vector<GenerateResult> chunked = Run(batch, OfflineSchedulerOptions{7, 256});
  ASSERT_EQ(together.size(), batch.size());
  ASSERT_EQ(chunked.size(), batch.size());
  for (size_t i : {1, 7, 15}) {  // seeded requests of cases 0, 3 and 7 (runs alone are slow)
    const GenerateResult alone = Run({batch[i]})[0];
    ASSERT_EQ(alone.output_token_ids.size(), 24u) << batch[i].id;
    EXPECT_EQ(together[i].output_token_ids, alone.output_token_ids) << batch[i].id;
    EXPECT_EQ(chunked[i].output_token_ids, alone.output_token_ids) << batch[i].id;
  }
  // Another seed draws other tokens (24 draws from nuclei of several tokens).
  GenerateRequest other = batch[1];
  other.seed = 77;
  EXPECT_NE(Run({other})[0].output_token_ids, together[1].output_token_ids);
}

// The log-probability returned with each sampled token is of the raw distribution: teacher
// forcing over prompt + outputs gives the same values.
TEST_P(SeededSamplingTest, LogprobsAreOfTheRawDistribution) {
  const GenerateResult sampled = Run({SeededSamplingRequest(cases_[2], "s", 5)})[0];
  ASSERT_EQ(sampled.logprobs.size(), sampled.output_token_ids.size());
  GenerateRequest tf;
  tf.id = "tf";
  tf.prompt_token_ids = sampled.prompt_token_ids;
  tf.prompt_token_ids.insert(tf.prompt_token_ids.end(), sampled.output_token_ids.begin(),
                             sampled.output_token_ids.end());
  tf.max_tokens = 1;
  tf.prompt_logprobs = 2;
  const GenerateResult forced = Run({tf})[0];
  const size_t prompt_len = sampled.prompt_token_ids.size();
  for (size_t s = 0; s < sampled.logprobs.size(); ++s) {
    const LogprobEntry& got = sampled.logprobs[s];
    const LogprobEntry& want = *forced.prompt_logprobs[prompt_len + s];
    EXPECT_EQ(got.chosen.token_id, sampled.output_token_ids[s]);
    EXPECT_EQ(want.chosen.token_id, sampled.output_token_ids[s]);
    EXPECT_NEAR(got.chosen.logprob, want.chosen.logprob, 1e-4) << "step " << s;
    ASSERT_EQ(got.top.size(), 2u);
    EXPECT_EQ(got.top[0].token_id, want.top[0].token_id) << "step " << s;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, SeededSamplingTest,
                         ::testing::Values("tiny-llama", "tiny-qwen2"), [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace tessera
