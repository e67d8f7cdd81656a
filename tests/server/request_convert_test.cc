#include "server/request_convert.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>

#include "server/response_convert.h"

namespace tessera {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

std::unique_ptr<Tokenizer> FixtureTokenizer() {
  const std::filesystem::path dir =
      std::filesystem::path(TESSERA_FIXTURES_DIR) / "models/tiny-llama";
  if (!std::filesystem::exists(dir / "tokenizer.json")) return nullptr;
  return *Tokenizer::Load(dir);
}

TEST(RequestConvertTest, UnsetFieldsTakeTheDocumentedDefaults) {
  v1::GenerateRequest in;
  in.add_token_ids(5);
  in.add_token_ids(6);
  absl::StatusOr<GenerateRequest> r = ToSchedulerRequest(in, nullptr, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->prompt_token_ids, ElementsAre(5, 6));
  EXPECT_EQ(r->max_tokens, 16);
  EXPECT_EQ(r->n, 1);
  EXPECT_EQ(r->priority, Priority::kInteractive);
  EXPECT_EQ(r->sampling.temperature, 0.0f);
  EXPECT_EQ(r->sampling.top_p, 1.0f);
  EXPECT_EQ(r->sampling.repetition_penalty, 1.0f);
  EXPECT_FALSE(r->seed.has_value());
  EXPECT_TRUE(r->skip_special_tokens);
  EXPECT_FALSE(r->ttft_target.has_value());
}

TEST(RequestConvertTest, SeedZeroIsASeedAndUnsetIsUnseeded) {
  v1::GenerateRequest in;
  in.add_token_ids(5);
  in.set_seed(0);
  absl::StatusOr<GenerateRequest> r = ToSchedulerRequest(in, nullptr, {});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->seed.has_value());
  EXPECT_EQ(*r->seed, 0u);
  in.clear_seed();
  r = ToSchedulerRequest(in, nullptr, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->seed.has_value());
}

TEST(RequestConvertTest, TopKMinusOneIsOff) {
  v1::GenerateRequest in;
  in.add_token_ids(5);
  in.set_top_k(-1);
  absl::StatusOr<GenerateRequest> r = ToSchedulerRequest(in, nullptr, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->sampling.top_k, 0);
  in.set_top_k(-2);
  r = ToSchedulerRequest(in, nullptr, {});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("top_k"));
  EXPECT_THAT(r.status().message(), HasSubstr("-2"));
}

TEST(RequestConvertTest, UnsetFieldsTakeTheGenerationDefaults) {
  GenerationDefaults d;
  d.temperature = 0.6f;
  d.top_p = 0.9f;
  d.top_k = 20;
  d.min_p = 0.1f;
  d.repetition_penalty = 1.1f;
  d.max_tokens = 64;
  v1::GenerateRequest in;
  in.add_token_ids(5);
  absl::StatusOr<GenerateRequest> r = ToSchedulerRequest(in, nullptr, {}, d);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FLOAT_EQ(r->sampling.temperature, 0.6f);
  EXPECT_FLOAT_EQ(r->sampling.top_p, 0.9f);
  EXPECT_EQ(r->sampling.top_k, 20);
  EXPECT_FLOAT_EQ(r->sampling.min_p, 0.1f);
  EXPECT_FLOAT_EQ(r->sampling.repetition_penalty, 1.1f);
  EXPECT_EQ(r->max_tokens, 64);
  // Fields the caller sets win, even when set to their "off" values.
  in.set_temperature(0);
  in.set_top_p(1);
  in.set_top_k(0);
  in.set_min_p(0);
  in.set_repetition_penalty(1);
  in.set_max_tokens(3);
  r = ToSchedulerRequest(in, nullptr, {}, d);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->sampling.temperature, 0.0f);
  EXPECT_EQ(r->sampling.top_p, 1.0f);
  EXPECT_EQ(r->sampling.top_k, 0);
  EXPECT_EQ(r->sampling.min_p, 0.0f);
  EXPECT_EQ(r->sampling.repetition_penalty, 1.0f);
  EXPECT_EQ(r->max_tokens, 3);
}

TEST(RequestConvertTest, CopiesEveryField) {
  v1::GenerateRequest in;
  in.add_token_ids(1);
  in.set_priority(v1::PRIORITY_BATCH);
  in.set_max_tokens(40);
  in.set_min_tokens(3);
  in.set_n(2);
  in.set_temperature(0.7f);
  in.set_top_k(20);
  in.set_top_p(0.9f);
  in.set_min_p(0.05f);
  in.set_seed(77);
  in.set_repetition_penalty(1.1f);
  in.set_presence_penalty(0.5f);
  in.set_frequency_penalty(-0.5f);
  (*in.mutable_logit_bias())[30] = -5.0f;
  (*in.mutable_logit_bias())[7] = 2.5f;
  in.add_stop("\n\n");
  in.set_include_stop_str_in_output(true);
  in.add_stop_token_ids(2);
  in.set_ignore_eos(true);
  in.set_skip_special_tokens(false);
  in.set_logprobs(3);
  in.set_prompt_logprobs(2);
  in.set_ttft_target_ms(250);
  in.set_tpot_target_ms(40);
  in.set_cache_salt("per-user");
  absl::StatusOr<GenerateRequest> r = ToSchedulerRequest(in, nullptr, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->priority, Priority::kBatch);
  EXPECT_EQ(r->max_tokens, 40);
  EXPECT_EQ(r->min_tokens, 3);
  EXPECT_EQ(r->n, 2);
  EXPECT_FLOAT_EQ(r->sampling.temperature, 0.7f);
  EXPECT_EQ(r->sampling.top_k, 20);
  EXPECT_FLOAT_EQ(r->sampling.top_p, 0.9f);
  EXPECT_FLOAT_EQ(r->sampling.min_p, 0.05f);
  EXPECT_EQ(r->seed, 77u);
  EXPECT_FLOAT_EQ(r->sampling.repetition_penalty, 1.1f);
  EXPECT_FLOAT_EQ(r->sampling.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(r->sampling.frequency_penalty, -0.5f);
  EXPECT_THAT(r->sampling.logit_bias, ElementsAre(Pair(7, 2.5f), Pair(30, -5.0f)));
  EXPECT_THAT(r->stop, ElementsAre("\n\n"));
  EXPECT_TRUE(r->include_stop_str_in_output);
  EXPECT_THAT(r->stop_token_ids, ElementsAre(2));
  EXPECT_TRUE(r->ignore_eos);
  EXPECT_FALSE(r->skip_special_tokens);
  EXPECT_EQ(r->sampling.num_logprobs, 3);
  EXPECT_EQ(r->prompt_logprobs, 2);
  EXPECT_EQ(r->ttft_target, absl::Milliseconds(250));
  EXPECT_EQ(r->tpot_target, absl::Milliseconds(40));
  EXPECT_EQ(r->cache_salt, "per-user");
}

TEST(RequestConvertTest, RefusesBadPrompts) {
  auto code_and_message = [](const v1::GenerateRequest& in, RequestLimits limits = {}) {
    absl::Status s = ToSchedulerRequest(in, nullptr, limits).status();
    return std::make_pair(s.code(), std::string(s.message()));
  };
  v1::GenerateRequest empty;
  EXPECT_THAT(code_and_message(empty),
              Pair(absl::StatusCode::kInvalidArgument, HasSubstr("the prompt is empty")));
  v1::GenerateRequest both;
  both.set_text("hi");
  both.add_token_ids(1);
  EXPECT_THAT(code_and_message(both),
              Pair(absl::StatusCode::kInvalidArgument, HasSubstr("text and token_ids")));
  v1::GenerateRequest text;
  text.set_text("hi");
  EXPECT_THAT(code_and_message(text),
              Pair(absl::StatusCode::kInvalidArgument, HasSubstr("has none")));
  v1::GenerateRequest priority;
  priority.add_token_ids(1);
  priority.set_priority(static_cast<v1::Priority>(7));
  EXPECT_THAT(code_and_message(priority),
              Pair(absl::StatusCode::kInvalidArgument, HasSubstr("priority 7")));
  v1::GenerateRequest big;
  for (int i = 0; i < 3000; ++i) big.add_token_ids(i);
  RequestLimits small;
  small.max_request_bytes = 2048;
  EXPECT_THAT(code_and_message(big, small),
              Pair(absl::StatusCode::kInvalidArgument, HasSubstr("over the limit of 2048")));
}

TEST(RequestConvertTest, EncodesTextWithTheModelsTokenizer) {
  std::unique_ptr<Tokenizer> tokenizer = FixtureTokenizer();
  if (!tokenizer) GTEST_SKIP() << "fixtures absent";
  v1::GenerateRequest in;
  in.set_text("The capital of France is");
  absl::StatusOr<GenerateRequest> with_bos = ToSchedulerRequest(in, tokenizer.get(), {});
  ASSERT_TRUE(with_bos.ok()) << with_bos.status();
  EXPECT_EQ(with_bos->prompt_token_ids, *tokenizer->Encode(in.text(), true));
  in.set_add_special_tokens(false);
  EXPECT_EQ(ToSchedulerRequest(in, tokenizer.get(), {})->prompt_token_ids,
            *tokenizer->Encode(in.text(), false));
  in.set_text("bad \xff byte");
  absl::Status bad = ToSchedulerRequest(in, tokenizer.get(), {}).status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.message(), HasSubstr("text: "));
}

TEST(ResponseConvertTest, CarriesDeltasLogprobsAndUsage) {
  RequestUpdate u;
  u.request_id = "acme/r1";
  SampleDelta d;
  d.index = 1;
  d.token_ids = {4, 5};
  d.text = "ab";
  d.logprobs.push_back({{4, -0.5f}, {{4, -0.5f}, {9, -1.5f}}});
  d.logprobs.push_back({{5, -0.25f}, {}});
  d.finish = FinishReason::kStop;
  d.stop_token_id = 5;
  u.samples.push_back(d);
  u.prompt_logprobs = {std::nullopt, LogprobEntry{{3, -2.0f}, {}}};
  u.finished = true;
  RequestTimings t;
  t.queue_time = absl::Milliseconds(5);
  t.time_to_first_token = absl::Milliseconds(20);
  t.e2e_latency = absl::Milliseconds(100);
  t.prompt_tokens = 7;
  t.generated_tokens = 2;
  t.preemptions = 1;
  t.cached_prompt_tokens = 4;
  u.timings = t;
  v1::GenerateResponse out;
  ToGenerateResponse(u, "r1", nullptr, &out);
  EXPECT_EQ(out.request_id(), "r1");
  ASSERT_EQ(out.samples_size(), 1);
  const v1::SampleDelta& s = out.samples(0);
  EXPECT_EQ(s.index(), 1);
  EXPECT_THAT(s.token_ids(), ElementsAre(4, 5));
  EXPECT_EQ(s.text(), "ab");
  ASSERT_EQ(s.logprobs_size(), 2);
  EXPECT_EQ(s.logprobs(0).top(1).token_id(), 9);
  EXPECT_FLOAT_EQ(s.logprobs(0).top(1).logprob(), -1.5f);
  EXPECT_EQ(s.finish_reason(), v1::FINISH_REASON_STOP);
  EXPECT_EQ(s.stop_token_id(), 5);
  ASSERT_EQ(out.prompt_logprobs_size(), 2);
  EXPECT_FALSE(out.prompt_logprobs(0).has_chosen());
  EXPECT_EQ(out.prompt_logprobs(1).chosen().token_id(), 3);
  EXPECT_EQ(out.usage().prompt_tokens(), 7);
  EXPECT_EQ(out.usage().completion_tokens(), 2);
  EXPECT_DOUBLE_EQ(out.usage().time_to_first_token_seconds(), 0.02);
  EXPECT_EQ(out.usage().preemptions(), 1);
  EXPECT_EQ(out.usage().cached_prompt_tokens(), 4);

  RequestUpdate mid;
  mid.samples.push_back(SampleDelta{});
  v1::GenerateResponse running;
  ToGenerateResponse(mid, "r1", nullptr, &running);
  EXPECT_FALSE(running.has_usage());
  EXPECT_EQ(running.samples(0).finish_reason(), v1::FINISH_REASON_UNSPECIFIED);
  EXPECT_FALSE(running.samples(0).has_stop_token_id());
}

}  // namespace
}  // namespace tessera
