// The offline scheduler with the real CPU engine on a small random-weight model (no fixtures).
#include "scheduler/offline_scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "engine/cpu/cpu_engine.h"

namespace tessera {
namespace {

ModelConfig TinyConfig() {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.vocab_size = 97;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.rms_norm_eps = 1e-5;
  c.max_position_embeddings = 128;
  c.layer_sliding_window = {0, 0};
  return c;
}

std::unique_ptr<CpuEngine> MakeEngine(int32_t num_blocks, ModelConfig config = TinyConfig()) {
  CpuEngineOptions o;
  o.block_size = 4;
  o.num_kv_blocks = num_blocks;
  CpuWeights w = CpuWeights::Random(config, 42, 0.3f);
  auto e = CpuEngine::Create(std::move(config), std::move(w), o);
  EXPECT_TRUE(e.ok()) << e.status();
  return *std::move(e);
}

GenerateRequest Req(std::string id, std::vector<int32_t> prompt, int32_t max_tokens) {
  GenerateRequest r;
  r.id = std::move(id);
  r.prompt_token_ids = std::move(prompt);
  r.max_tokens = max_tokens;
  return r;
}

std::vector<GenerateRequest> Mix() {
  std::vector<GenerateRequest> rs;
  for (int i = 0; i < 9; ++i) {
    std::vector<int32_t> prompt;
    for (int j = 0; j < 3 + 5 * i; ++j) prompt.push_back((7 * i + 3 * j + 1) % 97);
    rs.push_back(Req(std::to_string(i), prompt, 4 + i));
  }
  return rs;
}

TEST(OfflineSchedulerTest, MaxModelLenRefusesWhatTheModelsContextWouldTake) {
  auto engine = MakeEngine(64);  // context 128
  OfflineScheduler s(*engine, {2048, 256, 64});
  const absl::Status refused = s.Validate(Req("a", std::vector<int32_t>(60, 1), 5));
  EXPECT_TRUE(absl::IsInvalidArgument(refused));
  EXPECT_NE(refused.message().find("request \"a\": prompt (60 tokens) + max_tokens (5) exceeds "
                                   "max-model-len (64 tokens)"),
            std::string::npos)
      << refused;
  EXPECT_TRUE(s.Validate(Req("b", std::vector<int32_t>(60, 1), 4)).ok());
}

TEST(OfflineSchedulerTest, AnEngineCappedByMaxModelLenHasThatContext) {
  CpuEngineOptions o;
  o.block_size = 4;
  o.num_kv_blocks = 64;
  o.max_model_len = 64;
  auto e = CpuEngine::Create(TinyConfig(), CpuWeights::Random(TinyConfig(), 42, 0.3f), o);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ((*e)->config().max_position_embeddings, 64);
  OfflineScheduler s(**e, {});
  EXPECT_NE(s.Validate(Req("a", std::vector<int32_t>(60, 1), 5)).message().find("of 64 tokens"),
            std::string::npos);
  o.max_model_len = 129;
  e = CpuEngine::Create(TinyConfig(), CpuWeights::Random(TinyConfig(), 42, 0.3f), o);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("--max-model-len must be in [1, 128]"), std::string::npos)
      << e.status();
}

TEST(OfflineSchedulerTest, ValidationNamesTheProblem) {
  auto engine = MakeEngine(8);
  OfflineScheduler s(*engine, {});
  auto msg = [&](const GenerateRequest& r) { return std::string(s.Validate(r).message()); };
  EXPECT_NE(msg(Req("a", {}, 4)).find("the prompt is empty"), std::string::npos);
  EXPECT_NE(msg(Req("b", {1, 97}, 4)).find("token_ids[1] = 97 is outside the vocabulary"),
            std::string::npos);
  EXPECT_NE(msg(Req("c", {1}, 0)).find("max_tokens must be >= 1"), std::string::npos);
  EXPECT_NE(
      msg(Req("d", std::vector<int32_t>(100, 1), 40)).find("exceeds the model's context of 128"),
      std::string::npos);
  // 8 blocks of 4 tokens hold 32: a 40-token request can never fit.
  EXPECT_NE(
      msg(Req("e", std::vector<int32_t>(30, 1), 11)).find("needs 10 KV blocks but the cache has 8"),
      std::string::npos);
  EXPECT_TRUE(s.Validate(Req("f", std::vector<int32_t>(30, 1), 3)).ok());
  GenerateRequest g = Req("g", {1}, 3);
  g.sampling.top_p = 1.5f;
  EXPECT_NE(msg(g).find("request \"g\": top_p must be in (0, 1], got 1.5"), std::string::npos)
      << msg(g);
  g = Req("h", {1}, 3);
  g.sampling.logit_bias = {{97, 1.0f}};
  EXPECT_NE(msg(g).find("logit_bias token id must be in [0, 97)"), std::string::npos) << msg(g);
}

// Greedy decoding with penalties, checked token by token against logits the engine computes for
// each prefix alone, processed here by the penalty formulas: the scheduler must hand the engine
// the whole prompt and every output so far (the token being fed included).
TEST(OfflineSchedulerTest, PenaltiesSeeThePromptAndEveryOutputToken) {
  auto engine = MakeEngine(64);
  // 62 and 34 are tokens plain greedy decoding picks from this prompt: the prompt penalty matters.
  GenerateRequest r = Req("p", {5, 9, 62, 2, 34, 9}, 10);
  r.sampling.repetition_penalty = 3.0f;
  r.sampling.presence_penalty = 0.5f;
  r.sampling.frequency_penalty = 0.75f;
  r.sampling.logit_bias = {{11, 0.5f}};
  OfflineScheduler s(*engine, {4, 256});  // prefill in chunks: history views cross them
  auto results = s.Run({r});
  ASSERT_TRUE(results.ok()) << results.status();
  const std::vector<int32_t>& out = (*results)[0].output_token_ids;
  ASSERT_EQ(out.size(), 10u);
  std::vector<int32_t> seq = r.prompt_token_ids;
  for (size_t t = 0; t < out.size(); ++t) {
    StepPlan plan;
    StepSequence step;
    step.return_last_logits = true;
    plan.AddSequence(seq, {0, 1, 2, 3, 4}, 4, step);
    auto logits = engine->Step(plan);
    ASSERT_TRUE(logits.ok()) << logits.status();
    std::vector<float> l = logits->seqs[0].last_logits;
    for (size_t v = 0; v < l.size(); ++v) {
      const int32_t id = static_cast<int32_t>(v);
      const bool seen = std::count(seq.begin(), seq.end(), id) > 0;
      const auto count = std::count(out.begin(), out.begin() + t, id);
      if (seen) l[v] = l[v] > 0 ? l[v] / 3.0f : l[v] * 3.0f;
      if (count > 0) l[v] -= 0.75f * count + 0.5f;
      if (id == 11) l[v] += 0.5f;
    }
    const int32_t want = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
    ASSERT_EQ(out[t], want) << "step " << t;
    seq.push_back(out[t]);
  }
  // The penalties changed something: plain greedy decodes another sequence.
  auto plain = s.Run({Req("q", r.prompt_token_ids, 10)});
  ASSERT_TRUE(plain.ok());
  EXPECT_NE((*plain)[0].output_token_ids, out);
}

TEST(OfflineSchedulerTest, InvalidRequestFailsAloneWhileOthersRun) {
  auto engine = MakeEngine(64);
  OfflineScheduler s(*engine, {});
  auto results = s.Run({Req("ok", {1, 2, 3}, 5), Req("bad", {1, 500}, 5)});
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_TRUE((*results)[0].status.ok());
  EXPECT_EQ((*results)[0].output_token_ids.size(), 5u);
  EXPECT_FALSE((*results)[1].status.ok());
  EXPECT_TRUE((*results)[1].output_token_ids.empty());
}

// A pool too small for everyone at once: requests wait for blocks, and every output equals the
// one from an unconstrained run.
TEST(OfflineSchedulerTest, SmallKvPoolGivesSameOutputs) {
  auto big = MakeEngine(512);
  OfflineScheduler unconstrained(*big, {});
  auto want = unconstrained.Run(Mix());
  ASSERT_TRUE(want.ok());
  EXPECT_EQ(unconstrained.stats().max_running, 9);

  auto small = MakeEngine(20);  // 80 tokens: the largest request (43 + 12) fits, few at a time
  OfflineScheduler constrained(*small, {16, 256});
  auto got = constrained.Run(Mix());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_LT(constrained.stats().max_running, 9);
  for (size_t i = 0; i < want->size(); ++i) {
    EXPECT_EQ((*got)[i].output_token_ids, (*want)[i].output_token_ids) << i;
  }
  // The engine's blocks all came back: a second run fits exactly as the first did.
  auto again = constrained.Run(Mix());
  ASSERT_TRUE(again.ok());
  for (size_t i = 0; i < want->size(); ++i) {
    EXPECT_EQ((*again)[i].output_token_ids, (*want)[i].output_token_ids);
  }
}

TEST(OfflineSchedulerTest, TokenBudgetBoundsEveryStep) {
  auto engine = MakeEngine(512);
  OfflineScheduler s(*engine, {5, 3});
  auto results = s.Run(Mix());
  ASSERT_TRUE(results.ok());
  int64_t tokens = 0;
  for (const auto& r : *results)
    tokens += r.prompt_token_ids.size() + r.output_token_ids.size() - 1;
  // Every fed token was fed once, at most 5 per step.
  EXPECT_GE(s.stats().steps, (tokens + 4) / 5);
  EXPECT_LE(s.stats().max_running, 3);
}

TEST(OfflineSchedulerTest, EosStopsWithReasonStop) {
  auto probe = MakeEngine(64);
  OfflineScheduler ps(*probe, {});
  auto first = ps.Run({Req("p", {5, 6, 7}, 3)});
  ASSERT_TRUE(first.ok());
  const int32_t second_token = (*first)[0].output_token_ids[1];
  ASSERT_NE((*first)[0].output_token_ids[0], second_token);

  ModelConfig c = TinyConfig();
  c.eos_token_ids = {second_token};
  auto engine = MakeEngine(64, c);
  OfflineScheduler s(*engine, {});
  auto results = s.Run({Req("p", {5, 6, 7}, 10)});
  ASSERT_TRUE(results.ok());
  EXPECT_EQ((*results)[0].finish_reason, FinishReason::kStop);
  EXPECT_EQ((*results)[0].output_token_ids,
            (std::vector<int32_t>{(*first)[0].output_token_ids[0], second_token}));
}

TEST(OfflineSchedulerTest, SeededSamplingIgnoresBatchComposition) {
  auto engine = MakeEngine(512);
  GenerateRequest r = Req("s", {3, 1, 4, 1, 5}, 12);
  r.sampling.temperature = 1.5f;
  r.seed = 2024;
  OfflineScheduler s(*engine, {});
  auto alone = s.Run({r});
  std::vector<GenerateRequest> batch = Mix();
  batch.insert(batch.begin() + 4, r);
  auto together = s.Run(batch);
  ASSERT_TRUE(alone.ok() && together.ok());
  EXPECT_EQ((*alone)[0].output_token_ids, (*together)[4].output_token_ids);
  // Another seed gives another sequence (12 draws from 97 tokens at T = 1.5).
  r.seed = 2025;
  auto other = s.Run({r});
  EXPECT_NE((*other)[0].output_token_ids, (*alone)[0].output_token_ids);
}

// 0 is a seed like any other (vLLM's and OpenAI's meaning): the same tokens on every run, alone
// or batched. Only an unset seed draws a new one per request.
TEST(OfflineSchedulerTest, SeedZeroIsRepeatable) {
  auto engine = MakeEngine(512);
  GenerateRequest r = Req("z", {3, 1, 4, 1, 5}, 12);
  r.sampling.temperature = 1.5f;
  r.seed = 0;
  OfflineScheduler s(*engine, {});
  auto first = s.Run({r});
  std::vector<GenerateRequest> batch = Mix();
  batch.insert(batch.begin() + 2, r);
  auto second = s.Run(batch);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ((*first)[0].output_token_ids, (*second)[2].output_token_ids);
  // Unseeded runs draw their own seeds: three of them all equal to the seed-0 run would mean
  // the seed was ignored (12 draws from 97 tokens at T = 1.5).
  r.seed.reset();
  int same = 0;
  for (int i = 0; i < 3; ++i) {
    auto unseeded = s.Run({r});
    ASSERT_TRUE(unseeded.ok());
    same += (*unseeded)[0].output_token_ids == (*first)[0].output_token_ids;
  }
  EXPECT_LT(same, 3);
}

TEST(OfflineSchedulerTest, PromptLogprobsCoverEveryPositionButTheFirst) {
  auto engine = MakeEngine(64);
  GenerateRequest r = Req("p", {1, 2, 3, 4, 5, 6, 7, 8, 9}, 2);
  r.prompt_logprobs = 3;
  r.sampling.num_logprobs = 2;
  OfflineScheduler s(*engine, {4, 256});  // chunks of 4: targets cross chunk boundaries
  auto results = s.Run({r});
  ASSERT_TRUE(results.ok());
  const GenerateResult& g = (*results)[0];
  ASSERT_EQ(g.prompt_logprobs.size(), 9u);
  EXPECT_FALSE(g.prompt_logprobs[0].has_value());
  for (size_t i = 1; i < 9; ++i) {
    ASSERT_TRUE(g.prompt_logprobs[i].has_value()) << i;
    EXPECT_EQ(g.prompt_logprobs[i]->chosen.token_id, r.prompt_token_ids[i]);
    EXPECT_LE(g.prompt_logprobs[i]->chosen.logprob, 0.0f);
    EXPECT_EQ(g.prompt_logprobs[i]->top.size(), 3u);
  }
  ASSERT_EQ(g.logprobs.size(), 2u);
  EXPECT_EQ(g.logprobs[0].top.size(), 2u);
}

}  // namespace
}  // namespace tessera
