// RequestValidator and the ValidatedRequest it hands out: what the serving edge checks once
// (Scheduler::Check) and then submits without a second check.
#include "scheduler/request_validator.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "scheduler/scheduler.h"
#include "tests/scheduler/fake_engine.h"

namespace tessera {
namespace {

using ::tessera::testing::FakeEngine;
using ::tessera::testing::FakeEngineOptions;

GenerateRequest Request(std::string id, int32_t prompt_len, int32_t max_tokens) {
  GenerateRequest r;
  r.id = std::move(id);
  for (int32_t i = 0; i < prompt_len; ++i) r.prompt_token_ids.push_back(10 + i);
  r.max_tokens = max_tokens;
  return r;
}

FakeEngineOptions SmallCache() {
  FakeEngineOptions o;
  o.vocab_size = 100;
  o.geometry = {/*num_blocks=*/4, /*block_size=*/4};  // 16 tokens in all
  o.eos_probability = 0;
  return o;
}

TEST(RequestValidatorTest, ChecksAgainstTheModelTheCacheAndTheOptions) {
  FakeEngine engine(SmallCache());
  SchedulerOptions options;
  options.max_n = 3;
  const RequestValidator v(engine, /*has_tokenizer=*/false, options);
  EXPECT_TRUE(v.Validate(Request("ok", 8, 9)).ok());  // 8 + 9 - 1 = 16 tokens: 4 blocks
  auto message = [&](const GenerateRequest& r) { return std::string(v.Validate(r).message()); };
  EXPECT_EQ(message(Request("big", 8, 10)),
            "request \"big\": needs 5 KV blocks but the cache has 4 in all; lower max_tokens or "
            "the prompt length");
  GenerateRequest bad_token = Request("t", 2, 1);
  bad_token.prompt_token_ids[1] = 100;
  EXPECT_EQ(message(bad_token),
            "request \"t\": token_ids[1] = 100 is outside the vocabulary [0, 100)");
  GenerateRequest n = Request("n", 2, 1);
  n.n = 4;
  EXPECT_EQ(message(n), "request \"n\": n must be in [1, 3], got 4");
  GenerateRequest stop = Request("s", 2, 1);
  stop.stop = {"x"};
  EXPECT_EQ(message(stop), "request \"s\": stop strings need a tokenizer, and this model has none");
  EXPECT_EQ(message(Request("", 2, 1)), "request id is empty");
  GenerateRequest salted = Request("salt", 2, 1);
  salted.cache_salt = std::string(256, 's');
  EXPECT_TRUE(v.Validate(salted).ok());
  salted.cache_salt += "s";
  EXPECT_EQ(message(salted), "request \"salt\": cache_salt is longer than 256 bytes");
}

TEST(RequestValidatorTest, CheckHandsOutTheRequestWhoseIdMayBeQualifiedButNotEmptied) {
  FakeEngine engine(SmallCache());
  const RequestValidator v(engine, /*has_tokenizer=*/false, SchedulerOptions());
  EXPECT_EQ(v.Check(Request("big", 8, 10)).status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<ValidatedRequest> r = v.Check(Request("client-id", 3, 2));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->prompt_token_ids.size(), 3u);
  EXPECT_EQ(r->set_id("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*r)->id, "client-id");
  EXPECT_TRUE(r->set_id("tenant/client-id").ok());
  EXPECT_EQ(std::move(*r).Release().id, "tenant/client-id");
}

// The edge's path: Check with the client's id (its errors name it), qualify the id, Submit the
// proof; the request runs to its length like any other.
TEST(RequestValidatorTest, ACheckedRequestIsSubmittedAndServed) {
  FakeEngine engine(SmallCache());
  Scheduler scheduler(engine, nullptr, SchedulerOptions());
  scheduler.Start();
  EXPECT_EQ(scheduler.Check(Request("big", 8, 10)).status().message(),
            "request \"big\": needs 5 KV blocks but the cache has 4 in all; lower max_tokens or "
            "the prompt length");
  absl::StatusOr<ValidatedRequest> r = scheduler.Check(Request("c", 5, 4));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->set_id("tenant/c").ok());
  auto sink = std::make_shared<QueueSink>();
  ASSERT_TRUE(scheduler.Submit(*std::move(r), sink).ok());
  CollectedRequest c;
  while (!c.finished) {
    std::optional<RequestUpdate> u = sink->Next(absl::Seconds(60));
    ASSERT_TRUE(u.has_value()) << "no update within 60 s";
    EXPECT_EQ(u->request_id, "tenant/c");
    c.Add(*u);
  }
  EXPECT_TRUE(c.status.ok()) << c.status;
  ASSERT_EQ(c.samples.size(), 1u);
  EXPECT_EQ(c.samples[0].token_ids.size(), 4u);
}

}  // namespace
}  // namespace tessera
