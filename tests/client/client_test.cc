#include "client/client.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/fake_inference_server.h"
#include "tests/client/raw_generate_server.h"

namespace tessera {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Optional;

std::unique_ptr<Client> Connect(const std::string& target, ClientOptions options = {}) {
  options.target = target;
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(std::move(options));
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

v1::PositionLogprobs Logprob(int32_t id, float logprob) {
  v1::PositionLogprobs p;
  p.mutable_chosen()->set_token_id(id);
  p.mutable_chosen()->set_logprob(logprob);
  v1::TokenLogprob* top = p.add_top();
  top->set_token_id(id);
  top->set_logprob(logprob);
  return p;
}

v1::SampleDelta* AddDelta(v1::GenerateResponse& r, int index, std::vector<int32_t> ids,
                          const std::string& text) {
  v1::SampleDelta* d = r.add_samples();
  d->set_index(index);
  for (int32_t id : ids) {
    d->add_token_ids(id);
    *d->add_logprobs() = Logprob(id, -0.5f * id);
  }
  d->set_text(text);
  return d;
}

// Two samples interleaved over three messages, prompt log-probabilities first, usage last.
std::vector<v1::GenerateResponse> TwoSampleScript() {
  std::vector<v1::GenerateResponse> script(3);
  for (v1::GenerateResponse& r : script) r.set_request_id("r1");
  script[0].add_prompt_logprobs();  // the first prompt position has no log-probability
  *script[0].add_prompt_logprobs() = Logprob(450, -3.0f);
  AddDelta(script[0], 0, {5}, "Hel");
  AddDelta(script[0], 1, {7}, "Wo");
  v1::SampleDelta* end0 = AddDelta(script[1], 0, {6}, "lo");
  end0->set_finish_reason(v1::FINISH_REASON_STOP);
  end0->set_stop_string("\n");
  AddDelta(script[1], 1, {8, 9}, "rld");
  v1::SampleDelta* end1 = AddDelta(script[2], 1, {10}, "!");
  end1->set_finish_reason(v1::FINISH_REASON_LENGTH);
  v1::Usage* usage = script[2].mutable_usage();
  usage->set_prompt_tokens(2);
  usage->set_completion_tokens(6);
  usage->set_time_to_first_token_seconds(0.25);
  return script;
}

v1::GenerateRequest TwoSampleRequest() {
  v1::GenerateRequest request;
  request.set_request_id("r1");
  request.set_text("Hello");
  request.set_n(2);
  request.set_logprobs(1);
  request.set_prompt_logprobs(1);
  return request;
}

TEST(ClientTest, GenerateStreamsTheMessagesInOrder) {
  FakeInferenceServer server;
  server.service().script = TwoSampleScript();
  std::unique_ptr<Client> client = Connect(server.address());
  std::vector<std::string> received;
  absl::Status status = client->Generate(TwoSampleRequest(), [&](const v1::GenerateResponse& m) {
    received.push_back(m.SerializeAsString());
    return true;
  });
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(received.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(received[i], server.service().script[i].SerializeAsString()) << "message " << i;
  }
  const v1::GenerateRequest sent = server.service().last_generate_request();
  EXPECT_EQ(sent.SerializeAsString(), TwoSampleRequest().SerializeAsString());
}

TEST(ClientTest, GenerateAndCollectFoldsInterleavedSamples) {
  FakeInferenceServer server;
  server.service().script = TwoSampleScript();
  std::unique_ptr<Client> client = Connect(server.address());
  absl::StatusOr<GenerateOutput> out = client->GenerateAndCollect(TwoSampleRequest());
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->request_id, "r1");
  ASSERT_EQ(out->samples.size(), 2u);
  const SampleOutput& s0 = out->samples[0];
  EXPECT_EQ(s0.text, "Hello");
  EXPECT_THAT(s0.token_ids, ElementsAre(5, 6));
  EXPECT_EQ(s0.finish_reason, v1::FINISH_REASON_STOP);
  EXPECT_EQ(s0.stop_string, "\n");
  ASSERT_EQ(s0.logprobs.size(), 2u);
  EXPECT_EQ(s0.logprobs[1].chosen().token_id(), 6);
  EXPECT_FLOAT_EQ(s0.logprobs[1].chosen().logprob(), -3.0f);
  const SampleOutput& s1 = out->samples[1];
  EXPECT_EQ(s1.text, "World!");
  EXPECT_THAT(s1.token_ids, ElementsAre(7, 8, 9, 10));
  EXPECT_EQ(s1.finish_reason, v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(s1.stop_string, "");
  EXPECT_EQ(s1.logprobs.size(), 4u);
  ASSERT_EQ(out->prompt_logprobs.size(), 2u);
  EXPECT_FALSE(out->prompt_logprobs[0].has_chosen());
  EXPECT_EQ(out->prompt_logprobs[1].chosen().token_id(), 450);
  EXPECT_EQ(out->usage.prompt_tokens(), 2);
  EXPECT_EQ(out->usage.completion_tokens(), 6);
  EXPECT_DOUBLE_EQ(out->usage.time_to_first_token_seconds(), 0.25);
}

TEST(ClientTest, CollectKeepsAnEntryForSamplesThatProducedNothing) {
  FakeInferenceServer server;
  server.service().script.resize(1);
  AddDelta(server.service().script[0], 0, {5}, "a")->set_stop_token_id(2);
  server.service().script[0].mutable_usage()->set_completion_tokens(1);
  std::unique_ptr<Client> client = Connect(server.address());
  v1::GenerateRequest request;
  request.set_n(3);
  absl::StatusOr<GenerateOutput> out = client->GenerateAndCollect(request);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->samples.size(), 3u);
  EXPECT_THAT(out->samples[0].stop_token_id, Optional(2));
  EXPECT_TRUE(out->samples[2].token_ids.empty());
}

TEST(ClientTest, CollectRejectsASampleIndexBeyondN) {
  FakeInferenceServer server;
  server.service().script.resize(1);
  AddDelta(server.service().script[0], 1, {5}, "a");
  std::unique_ptr<Client> client = Connect(server.address());
  absl::StatusOr<GenerateOutput> out = client->GenerateAndCollect(v1::GenerateRequest());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInternal) << out.status();
}

TEST(ClientTest, CallbackReturningFalseCancelsTheCall) {
  FakeInferenceServer server;
  std::unique_ptr<Client> client = Connect(server.address());
  v1::GenerateRequest request;
  request.set_request_id("hold");
  int calls = 0;
  absl::Status status = client->Generate(request, [&](const v1::GenerateResponse& m) {
    ++calls;
    EXPECT_EQ(m.samples(0).text(), "first");
    return false;
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
  EXPECT_EQ(calls, 1);
  // The bound only keeps a broken build from hanging; the server sees the cancel at once.
  EXPECT_TRUE(server.service().hold_cancelled.WaitForNotificationWithTimeout(absl::Seconds(60)));
}

TEST(ClientTest, CallTimeoutGivesDeadlineExceeded) {
  FakeInferenceServer server;
  std::unique_ptr<Client> client = Connect(server.address());
  v1::GenerateRequest request;
  request.set_request_id("hold");
  CallOptions call;
  call.timeout = absl::Milliseconds(200);
  absl::Status status = client->Generate(
      request, [](const v1::GenerateResponse&) { return true; }, call);
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_TRUE(server.service().hold_cancelled.WaitForNotificationWithTimeout(absl::Seconds(60)));
}

TEST(ClientTest, DefaultTimeoutAppliesWhenTheCallNamesNone) {
  FakeInferenceServer server;
  ClientOptions options;
  options.default_timeout = absl::Milliseconds(200);
  std::unique_ptr<Client> client = Connect(server.address(), options);
  v1::GenerateRequest request;
  request.set_request_id("hold");
  absl::StatusOr<GenerateOutput> out = client->GenerateAndCollect(request);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kDeadlineExceeded) << out.status();
}

TEST(ClientTest, SendsTheApiKeyAsBearerMetadata) {
  FakeInferenceServer server;
  server.service().required_api_key = "sekrit";
  ClientOptions options;
  options.api_key = "sekrit";
  std::unique_ptr<Client> client = Connect(server.address(), options);
  ASSERT_TRUE(client->Tokenize("hi").ok());
  EXPECT_THAT(server.service().last_authorization(), Optional(std::string("Bearer sekrit")));
  ASSERT_TRUE(client->GenerateAndCollect(v1::GenerateRequest()).ok());
  EXPECT_THAT(server.service().last_authorization(), Optional(std::string("Bearer sekrit")));
}

TEST(ClientTest, SendsNoAuthorizationWithoutAKeyAndPassesTheServerErrorBack) {
  FakeInferenceServer server;
  server.service().required_api_key = "sekrit";
  std::unique_ptr<Client> client = Connect(server.address());
  absl::StatusOr<v1::ModelInfoResponse> info = client->ModelInfo();
  EXPECT_EQ(info.status(),
            absl::Status(absl::StatusCode::kUnauthenticated, "missing or unknown API key"));
  EXPECT_EQ(server.service().last_authorization(), std::nullopt);
}

TEST(ClientTest, ServerErrorCodeAndMessageComeBackUnchanged) {
  FakeInferenceServer server;
  std::unique_ptr<Client> client = Connect(server.address());
  v1::GenerateRequest request;
  request.set_request_id("error");
  absl::StatusOr<GenerateOutput> out = client->GenerateAndCollect(request);
  EXPECT_EQ(out.status(), absl::Status(absl::StatusCode::kInvalidArgument, kGenerateErrorMessage));
}

TEST(ClientTest, TokenizeRoundTrips) {
  FakeInferenceServer server;
  std::unique_ptr<Client> client = Connect(server.address());
  absl::StatusOr<v1::TokenizeResponse> with_bos = client->Tokenize("ab");
  ASSERT_TRUE(with_bos.ok()) << with_bos.status();
  EXPECT_THAT(with_bos->token_ids(), ElementsAre(1, 'a', 'b'));
  EXPECT_THAT(with_bos->tokens(), ElementsAre("<s>", "a", "b"));
  absl::StatusOr<v1::TokenizeResponse> bare = client->Tokenize("ab", false);
  ASSERT_TRUE(bare.ok()) << bare.status();
  EXPECT_THAT(bare->token_ids(), ElementsAre('a', 'b'));
}

TEST(ClientTest, ModelInfoRoundTrips) {
  FakeInferenceServer server;
  std::unique_ptr<Client> client = Connect(server.address());
  absl::StatusOr<v1::ModelInfoResponse> info = client->ModelInfo();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->model_id(), "fake-llama");
  EXPECT_EQ(info->model().architecture(), "LlamaForCausalLM");
  EXPECT_EQ(info->model().vocab_size(), 32000);
  EXPECT_EQ(info->kv_block_size(), 16);
}

TEST(ClientTest, HealthReportsLivenessAndReadiness) {
  using Response = ::grpc::health::v1::HealthCheckResponse;
  FakeInferenceServer server;
  std::unique_ptr<Client> client = Connect(server.address());
  server.health().SetServingStatus("tessera.v1.Inference", false);
  EXPECT_EQ(client->Health("").value_or(Response::UNKNOWN), Response::SERVING);
  EXPECT_EQ(client->Health("tessera.v1.Inference").value_or(Response::UNKNOWN),
            Response::NOT_SERVING);
  server.health().SetServingStatus("tessera.v1.Inference", true);
  EXPECT_EQ(client->Health("tessera.v1.Inference").value_or(Response::UNKNOWN), Response::SERVING);
  EXPECT_EQ(client->Health("no.such.Service").status().code(), absl::StatusCode::kNotFound);
}

TEST(ClientTest, UnreachableServerFailsUnavailableBeforeTheDeadline) {
  std::unique_ptr<Client> client = Connect(UnusedLoopbackAddress());
  CallOptions call;
  call.timeout = absl::Seconds(60);
  // UNAVAILABLE rather than DEADLINE_EXCEEDED: the call failed on the refused connection.
  EXPECT_EQ(client->ModelInfo(call).status().code(), absl::StatusCode::kUnavailable);
  absl::Status generate = client->Generate(
      v1::GenerateRequest(), [](const v1::GenerateResponse&) { return true; }, call);
  EXPECT_EQ(generate.code(), absl::StatusCode::kUnavailable) << generate;
  // Waiting for the server instead runs into the deadline.
  call.timeout = absl::Milliseconds(200);
  call.wait_for_ready = true;
  EXPECT_EQ(client->Health("", call).status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(ClientTest, ConcurrentCallsShareOneClient) {
  FakeInferenceServer server;
  std::unique_ptr<Client> client = Connect(server.address());
  std::atomic<int> wrong = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      const std::string text(t + 1, 'x');
      for (int i = 0; i < 20; ++i) {
        absl::StatusOr<v1::TokenizeResponse> r = client->Tokenize(text, false);
        if (!r.ok() || r->token_ids_size() != t + 1) ++wrong;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

// A stream that cannot end well must still end, at once: the server has finished. A generous
// deadline keeps a broken build from hanging; running into it fails the test.
class ClientStreamEndTest : public ::testing::Test {
 protected:
  static v1::GenerateResponse Message(const std::string& text, bool final) {
    v1::GenerateResponse r;
    r.set_request_id("r");
    AddDelta(r, 0, {5}, text);
    if (final) r.mutable_usage()->set_completion_tokens(1);
    return r;
  }

  // Generate against a server sending `messages`; the texts it delivered go to `texts_`.
  absl::Status Generate(std::vector<std::string> messages,
                        ::grpc::Status end = ::grpc::Status::OK) {
    RawGenerateServer server(std::move(messages), std::move(end));
    std::unique_ptr<Client> client = Connect(server.address());
    CallOptions call;
    call.timeout = absl::Seconds(30);
    const absl::Time start = absl::Now();
    absl::Status s = client->Generate(
        v1::GenerateRequest(),
        [&](const v1::GenerateResponse& m) {
          texts_.push_back(m.samples(0).text());
          return true;
        },
        call);
    took_ = absl::Now() - start;
    EXPECT_NE(s.code(), absl::StatusCode::kDeadlineExceeded) << "the call hung";
    EXPECT_LT(took_, absl::Seconds(10));
    return s;
  }

  std::vector<std::string> texts_;
  absl::Duration took_;
};

TEST_F(ClientStreamEndTest, AResponseWithInvalidUtf8IsAnInternalError) {
  // What the daemon sent before issue 14 was fixed: a delta starting inside a character.
  const std::string bad = SerializedWithBytes(Message("@@@@", false), "@@@@", "\xBF\xBD\xEF\xBF");
  absl::Status s = Generate(
      {Message("ok", false).SerializeAsString(), bad, Message("", true).SerializeAsString()});
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_THAT(s.message(), HasSubstr("cannot be parsed"));
  EXPECT_THAT(texts_, ElementsAre("ok"));
}

TEST_F(ClientStreamEndTest, GarbageBytesAreAnInternalError) {
  absl::Status s = Generate({"\xFF\xFF\xFF\xFF\xFF"});
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_THAT(s.message(), HasSubstr("cannot be parsed"));
}

TEST_F(ClientStreamEndTest, AStreamEndingWithoutItsFinalMessageIsAnInternalError) {
  absl::Status s = Generate({Message("ok", false).SerializeAsString()});
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_THAT(s.message(), HasSubstr("without its final message"));
  EXPECT_THAT(texts_, ElementsAre("ok"));
}

TEST_F(ClientStreamEndTest, AServerErrorKeepsItsCodeWithoutAFinalMessage) {
  absl::Status s = Generate({Message("ok", false).SerializeAsString()},
                            ::grpc::Status(::grpc::StatusCode::UNAVAILABLE, "draining"));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(s.message(), "draining");
}

TEST_F(ClientStreamEndTest, AFinishedStreamIsOk) {
  absl::Status s =
      Generate({Message("ok", false).SerializeAsString(), Message("!", true).SerializeAsString()});
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_THAT(texts_, ElementsAre("ok", "!"));
}

TEST(ClientTest, CreateRejectsBadOptions) {
  EXPECT_EQ(Client::Create({}).status().code(), absl::StatusCode::kInvalidArgument);
  ClientOptions name_without_tls;
  name_without_tls.target = "localhost:1";
  name_without_tls.tls_server_name = "tessera.test";
  EXPECT_EQ(Client::Create(name_without_tls).status().code(), absl::StatusCode::kInvalidArgument);
  ClientOptions zero_timeout;
  zero_timeout.target = "localhost:1";
  zero_timeout.default_timeout = absl::ZeroDuration();
  EXPECT_EQ(Client::Create(zero_timeout).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tessera
