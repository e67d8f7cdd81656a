// Sleep mode on the CPU engine: both levels free the weights and the KV storage (the process's
// RSS drops by about the weights' size), a step while asleep is refused, and after WakeUp the
// engine computes exactly what it computed before (the weights come back from the checkpoint).
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "authoring/checkpoint_writer.h"
#include "engine/cpu/cpu_engine.h"
#include "tests/engine/resident_memory.h"
#include "tests/engine/test_files.h"

namespace tessera {
namespace {

using ::tessera::testing::ResidentBytes;
using ::tessera::testing::TestDir;

constexpr int32_t kBlockSize = 16;

// About 16M parameters: 64 MB as fp32, far above the noise in the process's RSS.
ModelConfig MidConfig() {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.model_type = "llama";
  c.vocab_size = 8000;
  c.hidden_size = 384;
  c.intermediate_size = 1024;
  c.num_hidden_layers = 6;
  c.num_attention_heads = 6;
  c.num_key_value_heads = 3;
  c.head_dim = 64;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 10000;
  c.max_position_embeddings = 512;
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  return c;
}

std::unique_ptr<CpuEngine> LoadEngine(const std::string& dir) {
  CpuEngineOptions o;
  o.block_size = kBlockSize;
  o.num_kv_blocks = 64;
  o.num_threads = 2;
  absl::StatusOr<std::unique_ptr<CpuEngine>> e = CpuEngine::Load(dir, o);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? *std::move(e) : nullptr;
}

// Greedy decoding of `prompt` for `n` tokens on blocks 0.., one step per token.
std::vector<int32_t> Greedy(CpuEngine& engine, const std::vector<int32_t>& prompt, int n) {
  std::vector<int32_t> blocks(8);
  for (int32_t b = 0; b < 8; ++b) blocks[b] = b;
  std::vector<int32_t> out;
  std::vector<int32_t> feed = prompt;
  int64_t cached = 0;
  for (int i = 0; i < n; ++i) {
    StepSequence seq;
    seq.num_cached_tokens = cached;
    seq.sample = true;
    StepPlan plan;
    plan.AddSequence(feed, blocks, kBlockSize, seq);
    absl::StatusOr<StepResult> r = engine.Step(plan);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return out;
    cached += static_cast<int64_t>(feed.size());
    out.push_back(r->seqs[0].sampled_token);
    feed = {out.back()};
  }
  return out;
}

class CpuSleepTest : public ::testing::TestWithParam<SleepLevel> {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(TestDir("cpu_sleep", "mid"));
    RandomCheckpointOptions o;
    o.seed = 7;
    o.scale = 0.1f;
    ASSERT_TRUE(WriteRandomCheckpoint(*dir_, MidConfig(), o).ok());
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }
  static std::string* dir_;
};
std::string* CpuSleepTest::dir_ = nullptr;

TEST_P(CpuSleepTest, FreesTheWeightsAndWakesUpComputingTheSame) {
  std::unique_ptr<CpuEngine> engine = LoadEngine(*dir_);
  ASSERT_NE(engine, nullptr);
  const std::vector<int32_t> prompt = {1, 17, 423, 9, 3001, 77, 5, 640};
  const std::vector<int32_t> before = Greedy(*engine, prompt, 6);
  ASSERT_EQ(before.size(), 6u);

  const int64_t weight_bytes = static_cast<int64_t>(engine->weights().NumParameters()) * 4;
  const int64_t awake_rss = ResidentBytes();
  ASSERT_TRUE(engine->Sleep(GetParam()).ok());
  EXPECT_EQ(engine->sleep_level(), GetParam());
  const int64_t asleep_rss = ResidentBytes();
  if (awake_rss > 0) {
    // Most of the weights' pages went back to the OS (the rest of the process barely moves).
    EXPECT_GE(awake_rss - asleep_rss, weight_bytes * 9 / 10)
        << "RSS awake " << awake_rss << ", asleep " << asleep_rss << ", weights " << weight_bytes;
  }

  StepPlan plan;
  plan.AddSequence(prompt, {0}, kBlockSize, StepSequence{});
  absl::StatusOr<StepResult> refused = engine->Step(plan);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();

  ASSERT_TRUE(engine->WakeUp().ok());
  EXPECT_EQ(engine->sleep_level(), SleepLevel::kAwake);
  EXPECT_EQ(Greedy(*engine, prompt, 6), before);
  // And again: a second cycle reuses heap the first one freed, which must go back too.
  ASSERT_TRUE(engine->Sleep(GetParam()).ok());
  if (awake_rss > 0) {
    EXPECT_GE(awake_rss - ResidentBytes(), weight_bytes * 9 / 10);
  }
  ASSERT_TRUE(engine->WakeUp().ok());
  EXPECT_EQ(Greedy(*engine, prompt, 6), before);
}

INSTANTIATE_TEST_SUITE_P(Levels, CpuSleepTest,
                         ::testing::Values(SleepLevel::kOffloadWeights,
                                           SleepLevel::kDiscardWeights),
                         [](const ::testing::TestParamInfo<SleepLevel>& info) {
                           return std::string(SleepStateLabel(info.param));
                         });

TEST_F(CpuSleepTest, StateErrorsAreClear) {
  std::unique_ptr<CpuEngine> engine = LoadEngine(*dir_);
  ASSERT_NE(engine, nullptr);
  EXPECT_EQ(engine->WakeUp().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(engine->Sleep(SleepLevel::kAwake).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(engine->Sleep(SleepLevel::kOffloadWeights).ok());
  const absl::Status again = engine->Sleep(SleepLevel::kDiscardWeights);
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(again.message().find("asleep"), absl::string_view::npos) << again;
}

TEST_F(CpuSleepTest, WakeUpWithoutTheCheckpointFailsAndStaysAsleep) {
  const std::string copy = TestDir("cpu_sleep", "moved");
  std::filesystem::copy(
      *dir_, copy,
      std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
  std::unique_ptr<CpuEngine> engine = LoadEngine(copy);
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(engine->Sleep(SleepLevel::kDiscardWeights).ok());
  std::filesystem::remove_all(copy);
  const absl::Status woke = engine->WakeUp();
  EXPECT_FALSE(woke.ok());
  EXPECT_NE(woke.message().find("reloading the weights"), absl::string_view::npos) << woke;
  EXPECT_EQ(engine->sleep_level(), SleepLevel::kDiscardWeights);
}

TEST(CpuSleepFromMemoryTest, AnEngineWithoutACheckpointRefusesToSleep) {
  ModelConfig c = MidConfig();
  c.num_hidden_layers = 1;
  c.vocab_size = 64;
  CpuEngineOptions o;
  o.num_kv_blocks = 4;
  absl::StatusOr<std::unique_ptr<CpuEngine>> engine =
      CpuEngine::Create(c, CpuWeights::Random(c, 1), o);
  ASSERT_TRUE(engine.ok()) << engine.status();
  const absl::Status s = (*engine)->Sleep(SleepLevel::kOffloadWeights);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("no checkpoint"), absl::string_view::npos) << s;
  EXPECT_EQ((*engine)->sleep_level(), SleepLevel::kAwake);
}

}  // namespace
}  // namespace tessera
