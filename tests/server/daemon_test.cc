// The daemon end to end on loopback: tesserad's Daemon serving the tiny-llama fixture on the CPU
// engine, driven through the project's client SDK (tessera::Client) and plain HTTP.
#include "server/daemon.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "tests/engine/cpu/golden_reference.h"
#include "tests/server/http_test_client.h"
#include "text/tokenizer/tokenizer.h"
#include "text/tokenizer/utf8.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

const std::filesystem::path kFixtures(TESSERA_FIXTURES_DIR);

DaemonOptions BaseOptions() {
  DaemonOptions o;
  o.model_dir = (kFixtures / "models/tiny-llama").string();
  o.port = 0;
  o.metrics_port = 0;
  o.engine.threads = 1;  // the tests share two cores with the rest of the suite
  o.engine.kv_cache_bytes = int64_t{64} << 20;
  o.drain_timeout = absl::Seconds(30);
  return o;
}

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kFixtures / "models/tiny-llama/config.json")) {
      GTEST_SKIP() << "fixtures absent";
    }
  }
  void StartDaemon(DaemonOptions options) {
    absl::StatusOr<std::unique_ptr<Daemon>> d = Daemon::Start(options);
    ASSERT_TRUE(d.ok()) << d.status();
    daemon_ = *std::move(d);
  }
  std::unique_ptr<Client> Connect(const std::string& api_key = "") const {
    ClientOptions co;
    co.target = absl::StrCat("127.0.0.1:", daemon_->grpc_port());
    co.api_key = api_key;
    co.default_timeout = absl::Seconds(60);
    return *Client::Create(co);
  }
  // Waits until the scheduler has nothing in flight (requests leave at step boundaries).
  bool WaitIdle() const {
    for (int i = 0; i < 500 && daemon_->num_in_flight() > 0; ++i) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    return daemon_->num_in_flight() == 0;
  }
  std::string Get(const std::string& path, int* status) const {
    absl::StatusOr<http_test::HttpReply> r = http_test::HttpGet(daemon_->metrics_port(), path);
    *status = r.ok() ? r->status : -1;
    return r.ok() ? r->body : "";
  }

  std::unique_ptr<Daemon> daemon_;
};

v1::GenerateRequest TokenRequest(std::vector<int32_t> ids, int max_tokens) {
  v1::GenerateRequest r;
  for (int32_t id : ids) r.add_token_ids(id);
  r.set_max_tokens(max_tokens);
  return r;
}

// A request that runs for a while: it cannot stop before max_tokens.
v1::GenerateRequest LongRequest(int max_tokens = 3000) {
  v1::GenerateRequest r = TokenRequest({1, 415, 2936}, max_tokens);
  r.set_ignore_eos(true);
  return r;
}

TEST_F(DaemonTest, GreedyOutputMatchesTransformers) {
  StartDaemon(BaseOptions());
  std::unique_ptr<Client> client = Connect();
  const std::vector<GoldenCase> cases =
      LoadGoldenCases((kFixtures / "refs/tiny-llama.public.json").string());
  ASSERT_FALSE(cases.empty());
  for (size_t i = 0; i < std::min<size_t>(cases.size(), 3); ++i) {
    const GoldenCase& c = cases[i];
    v1::GenerateRequest r = TokenRequest(c.prompt_ids, static_cast<int>(c.greedy.size()));
    r.set_ignore_eos(true);
    r.set_logprobs(2);
    absl::StatusOr<GenerateOutput> out = client->GenerateAndCollect(r);
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ(out->samples.size(), 1u);
    const SampleOutput& s = out->samples[0];
    ASSERT_EQ(s.token_ids.size(), c.greedy.size());
    size_t compared = 0;
    for (size_t t = 0; t < c.greedy.size() && c.margins[t] >= 1e-3; ++t, ++compared) {
      ASSERT_EQ(s.token_ids[t], c.greedy[t]) << "case " << i << " step " << t;
      ASSERT_EQ(s.logprobs[t].chosen().token_id(), s.token_ids[t]);
    }
    EXPECT_GT(compared, 0u);
    EXPECT_EQ(s.finish_reason, v1::FINISH_REASON_LENGTH);
    EXPECT_EQ(out->usage.prompt_tokens(), static_cast<int32_t>(c.prompt_ids.size()));
    EXPECT_EQ(out->usage.completion_tokens(), static_cast<int32_t>(c.greedy.size()));
    EXPECT_GT(out->usage.e2e_seconds(), 0);
  }
}

TEST_F(DaemonTest, TextPromptStreamsTheDecodedTextAndEndsWithUsage) {
  StartDaemon(BaseOptions());
  std::unique_ptr<Client> client = Connect();
  v1::GenerateRequest r;
  r.set_text("The capital of France is");
  r.set_max_tokens(24);
  r.set_ignore_eos(true);
  int messages = 0;
  bool usage_seen_early = false;
  std::string text;
  std::vector<int32_t> ids;
  v1::GenerateResponse last;
  absl::Status s = client->Generate(r, [&](const v1::GenerateResponse& m) {
    // Only the last message may carry usage: one seen on an earlier message is an error.
    if (messages > 0 && last.has_usage()) usage_seen_early = true;
    ++messages;
    for (const v1::SampleDelta& d : m.samples()) {
      text += d.text();
      ids.insert(ids.end(), d.token_ids().begin(), d.token_ids().end());
    }
    last = m;
    return true;
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_GT(messages, 1);  // streamed, not one message at the end
  EXPECT_FALSE(usage_seen_early);
  ASSERT_TRUE(last.has_usage());
  EXPECT_EQ(last.usage().completion_tokens(), 24);
  ASSERT_EQ(ids.size(), 24u);
  std::unique_ptr<Tokenizer> tokenizer = *Tokenizer::Load(kFixtures / "models/tiny-llama");
  EXPECT_EQ(text, *tokenizer->Decode(ids, /*skip_special_tokens=*/true));

  absl::StatusOr<v1::TokenizeResponse> tok = client->Tokenize("The capital of France is");
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ(std::vector<int32_t>(tok->token_ids().begin(), tok->token_ids().end()),
            *tokenizer->Encode("The capital of France is", true));
  EXPECT_EQ(tok->tokens_size(), tok->token_ids_size());

  absl::StatusOr<v1::ModelInfoResponse> info = client->ModelInfo();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->model_id(), "tiny-llama");
  EXPECT_EQ(info->model().vocab_size(), 32000);
  EXPECT_EQ(info->backend(), "cpu");
  EXPECT_TRUE(info->has_tokenizer());
  EXPECT_GT(info->kv_token_capacity(), 0);
}

// Issue 14's reproductions: greedy outputs with runs of byte-fallback tokens, whose decode does
// not always extend the decode of their prefix. Every delta must be whole characters (a text
// field that is not valid UTF-8 fails the call in the SDK, grpcio and others), and the deltas
// must join to what the output adds to the prompt's text.
TEST_F(DaemonTest, StreamedTextWithByteRunsIsWholeCharactersAndJoinsToTheDecode) {
  StartDaemon(BaseOptions());
  std::unique_ptr<Client> client = Connect();
  std::unique_ptr<Tokenizer> tokenizer = *Tokenizer::Load(kFixtures / "models/tiny-llama");
  for (const auto& [prompt, max_tokens] :
       {std::pair<std::string, int>{"Request 11 says", 300}, {"round 4 req 5", 200}}) {
    v1::GenerateRequest r;
    r.set_text(prompt);
    r.set_max_tokens(max_tokens);
    r.set_ignore_eos(true);
    std::string text;
    std::vector<int32_t> ids;
    absl::Status s = client->Generate(r, [&](const v1::GenerateResponse& m) {
      for (const v1::SampleDelta& d : m.samples()) {
        EXPECT_EQ(tokenizer::FirstInvalidUtf8(d.text()), std::string::npos) << prompt;
        text += d.text();
        ids.insert(ids.end(), d.token_ids().begin(), d.token_ids().end());
      }
      return true;
    });
    ASSERT_TRUE(s.ok()) << prompt << ": " << s;
    ASSERT_EQ(ids.size(), static_cast<size_t>(max_tokens));
    std::vector<int32_t> all = *tokenizer->Encode(prompt, true);
    const std::string prompt_text = *tokenizer->Decode(all, true);
    all.insert(all.end(), ids.begin(), ids.end());
    const std::string whole = *tokenizer->Decode(all, true);
    ASSERT_EQ(whole.substr(0, prompt_text.size()), prompt_text);
    EXPECT_EQ(text, whole.substr(prompt_text.size())) << prompt;
  }
}

TEST_F(DaemonTest, BadRequestsGetTheirStatusNamingTheField) {
  DaemonOptions o = BaseOptions();
  o.limits.max_request_bytes = 64 << 10;
  StartDaemon(o);
  std::unique_ptr<Client> client = Connect();
  struct Case {
    std::function<void(v1::GenerateRequest&)> change;
    absl::StatusCode code;
    const char* message;
  };
  const Case cases[] = {
      {[](v1::GenerateRequest& r) { r.clear_token_ids(); }, absl::StatusCode::kInvalidArgument,
       "the prompt is empty"},
      {[](v1::GenerateRequest& r) { r.set_max_tokens(5000); }, absl::StatusCode::kInvalidArgument,
       "exceeds the model's context of 4096"},
      {[](v1::GenerateRequest& r) { r.set_temperature(-1); }, absl::StatusCode::kInvalidArgument,
       "temperature"},
      {[](v1::GenerateRequest& r) { r.set_top_p(1.5f); }, absl::StatusCode::kInvalidArgument,
       "top_p"},
      {[](v1::GenerateRequest& r) { r.set_presence_penalty(3); },
       absl::StatusCode::kInvalidArgument, "presence_penalty"},
      {[](v1::GenerateRequest& r) { r.set_logprobs(21); }, absl::StatusCode::kInvalidArgument,
       "logprobs"},
      {[](v1::GenerateRequest& r) { r.set_n(0); }, absl::StatusCode::kInvalidArgument, "n must be"},
      {[](v1::GenerateRequest& r) { r.add_token_ids(32000); }, absl::StatusCode::kInvalidArgument,
       "token_ids[3] = 32000"},
      {[](v1::GenerateRequest& r) { (*r.mutable_logit_bias())[5] = 200; },
       absl::StatusCode::kInvalidArgument, "logit_bias"},
      {[](v1::GenerateRequest& r) {
         for (int i = 0; i < 17; ++i) r.add_stop(absl::StrCat("stop", i));
       },
       absl::StatusCode::kInvalidArgument, "at most 16 stop strings"},
      {[](v1::GenerateRequest& r) {
         r.clear_token_ids();
         r.set_text(std::string(100 << 10, 'a'));
       },
       absl::StatusCode::kInvalidArgument, "over the limit of 65536"},
      {[](v1::GenerateRequest& r) { r.set_adapter("nope"); }, absl::StatusCode::kNotFound,
       "adapter nope not found"},
      {[](v1::GenerateRequest& r) { r.set_adapter("../nope"); }, absl::StatusCode::kInvalidArgument,
       "adapter: "},
  };
  for (const Case& c : cases) {
    v1::GenerateRequest r = TokenRequest({1, 415, 2936}, 4);
    c.change(r);
    absl::StatusOr<GenerateOutput> out = client->GenerateAndCollect(r);
    ASSERT_FALSE(out.ok()) << c.message;
    EXPECT_EQ(out.status().code(), c.code) << out.status();
    EXPECT_THAT(out.status().message(), HasSubstr(c.message));
  }
  // The daemon keeps serving.
  EXPECT_TRUE(client->GenerateAndCollect(TokenRequest({1, 415}, 2)).ok());
  int status = 0;
  const std::string metrics = Get("/metrics", &status);
  EXPECT_EQ(status, 200);
  EXPECT_THAT(metrics, HasSubstr("reason=\"INVALID_ARGUMENT\""));
}

TEST_F(DaemonTest, MaxModelLenRefusesLongerRequestsAndCapsTheReportedContext) {
  DaemonOptions o = BaseOptions();
  o.scheduler.max_model_len = 64;
  StartDaemon(o);
  std::unique_ptr<Client> client = Connect();
  absl::StatusOr<GenerateOutput> out = client->GenerateAndCollect(TokenRequest({1, 415, 2936}, 62));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out.status().message(), HasSubstr("exceeds max-model-len (64 tokens)"));
  EXPECT_TRUE(client->GenerateAndCollect(TokenRequest({1, 415, 2936}, 61)).ok());
  absl::StatusOr<v1::ModelInfoResponse> info = client->ModelInfo();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->model().max_context_tokens(), 64);
}

TEST_F(DaemonTest, MaxModelLenAboveTheModelsContextFailsAtStart) {
  DaemonOptions o = BaseOptions();
  o.scheduler.max_model_len = 4097;  // tiny-llama's max_position_embeddings is 4096
  absl::StatusOr<std::unique_ptr<Daemon>> d = Daemon::Start(o);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(d.status().message(), HasSubstr("--max-model-len must be in [1, 4096]"));
}

class DaemonAuthTest : public DaemonTest {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    if (IsSkipped()) return;
    keys_ = std::filesystem::temp_directory_path() / absl::StrCat("tessera-keys-", getpid());
    std::ofstream(keys_) << R"({"keys": [{"key": "sk-acme", "tenant": "acme"},
                                         {"key": "sk-globex", "tenant": "globex"}],
                                "tenants": {"acme": {"max_in_flight": 1}}})";
    DaemonOptions o = BaseOptions();
    o.api_keys_file = keys_.string();
    StartDaemon(o);
  }
  void TearDown() override {
    daemon_.reset();
    if (!keys_.empty()) std::filesystem::remove(keys_);
  }
  std::filesystem::path keys_;
};

TEST_F(DaemonAuthTest, KeysMapToTenantsWithTheirLimits) {
  const v1::GenerateRequest small = TokenRequest({1, 415}, 2);
  EXPECT_EQ(Connect()->GenerateAndCollect(small).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Connect("sk-wrong")->GenerateAndCollect(small).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Connect()->ModelInfo().status().code(), absl::StatusCode::kUnauthenticated);
  std::unique_ptr<Client> acme = Connect("sk-acme");
  std::unique_ptr<Client> globex = Connect("sk-globex");
  ASSERT_TRUE(acme->GenerateAndCollect(small).ok());

  // acme may have one request in flight: a second is refused while the first streams.
  absl::Notification streaming;
  absl::Status long_status;
  std::thread first([&] {
    v1::GenerateRequest r = LongRequest(400);
    r.set_request_id("shared-id");
    long_status = acme->Generate(r, [&](const v1::GenerateResponse&) {
      if (!streaming.HasBeenNotified()) streaming.Notify();
      return true;
    });
  });
  streaming.WaitForNotification();
  absl::Status second = acme->GenerateAndCollect(small).status();
  EXPECT_EQ(second.code(), absl::StatusCode::kResourceExhausted) << second;
  EXPECT_THAT(second.message(), HasSubstr("tenant \"acme\""));
  // Other tenants are unaffected, and may use the same request id at the same time.
  v1::GenerateRequest same_id = small;
  same_id.set_request_id("shared-id");
  absl::StatusOr<GenerateOutput> other = globex->GenerateAndCollect(same_id);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(other->request_id, "shared-id");
  first.join();
  EXPECT_TRUE(long_status.ok()) << long_status;
  ASSERT_TRUE(WaitIdle());
  EXPECT_TRUE(acme->GenerateAndCollect(small).ok());

  int status = 0;
  const std::string metrics = Get("/metrics", &status);
  EXPECT_THAT(metrics, HasSubstr("tenant=\"acme\""));
  EXPECT_THAT(metrics, HasSubstr("tenant=\"globex\""));
  EXPECT_THAT(metrics, HasSubstr("reason=\"UNAUTHENTICATED\""));
  EXPECT_THAT(metrics, HasSubstr("reason=\"RESOURCE_EXHAUSTED\""));
}

// Tenants' latency targets and tokens-per-minute limits from the keys file, and the daemon's
// default targets for everyone else.
class DaemonTenantPolicyTest : public DaemonTest {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    if (IsSkipped()) return;
    keys_ = std::filesystem::temp_directory_path() / absl::StrCat("tessera-policy-", getpid());
    std::ofstream(keys_) << R"({"keys": [{"key": "sk-acme", "tenant": "acme"},
                                         {"key": "sk-globex", "tenant": "globex"}],
                                "tenants": {"acme": {"ttft_target_ms": 600000,
                                                     "tokens_per_minute": 25}}})";
    DaemonOptions o = BaseOptions();
    o.api_keys_file = keys_.string();
    o.slo_defaults.tpot_target = absl::Minutes(10);
    o.scheduler.scheduling_policy = SchedulingPolicyKind::kSlo;  // tesserad's default
    StartDaemon(o);
  }
  void TearDown() override {
    daemon_.reset();
    if (!keys_.empty()) std::filesystem::remove(keys_);
  }
  std::filesystem::path keys_;
};

TEST_F(DaemonTenantPolicyTest, TargetsAndTokenLimitsApplyPerTenant) {
  std::unique_ptr<Client> acme = Connect("sk-acme");
  std::unique_ptr<Client> globex = Connect("sk-globex");
  // acme reserves 2 + 8 tokens per request out of 25 a minute; each uses all 10 (ignore_eos).
  v1::GenerateRequest r = TokenRequest({1, 415}, 8);
  r.set_ignore_eos(true);
  ASSERT_TRUE(acme->GenerateAndCollect(r).ok());
  ASSERT_TRUE(acme->GenerateAndCollect(r).ok());
  absl::Status third = acme->GenerateAndCollect(r).status();
  EXPECT_EQ(third.code(), absl::StatusCode::kResourceExhausted) << third;
  EXPECT_THAT(third.message(), HasSubstr("retry in"));
  // A short request fits what is left (5), and globex has no limit.
  EXPECT_TRUE(acme->GenerateAndCollect(TokenRequest({1, 415}, 3)).ok());
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(globex->GenerateAndCollect(r).ok());
  ASSERT_TRUE(WaitIdle());

  // acme's 3 finished requests met the tenant's TTFT target; nobody else has one. Everyone's
  // 6 met the daemon's default TPOT target. (The scheduler's counts may trail the last stream.)
  const std::string ttft = "tessera_ttft_target_total{model_name=\"tiny-llama\",outcome=\"met\"} ";
  const std::string tpot = "tessera_tpot_target_total{model_name=\"tiny-llama\",outcome=\"met\"} ";
  std::string metrics;
  const std::string globex_both =
      "tessera_slo_attained_total{model_name=\"tiny-llama\",target=\"both\",tenant=\"globex\"} 3";
  for (int i = 0; i < 200 && (metrics.find(tpot + "6") == std::string::npos ||
                              metrics.find(globex_both) == std::string::npos);
       ++i) {
    int status = 0;
    metrics = Get("/metrics", &status);
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_NE(metrics.find(ttft + "3\n"), std::string::npos) << "no \"" << ttft << "3\"";
  EXPECT_NE(metrics.find(tpot + "6\n"), std::string::npos) << "no \"" << tpot << "6\"";

  // Per tenant: acme's 3 had both targets, globex's 3 only the TPOT one (both counts every
  // target a request has); nobody missed one, and globex has no TTFT series.
  auto attained = [](const char* target, const char* tenant) {
    return absl::StrCat("tessera_slo_attained_total{model_name=\"tiny-llama\",target=\"", target,
                        "\",tenant=\"", tenant, "\"} ");
  };
  for (const auto& [target, tenant, n] :
       {std::tuple<const char*, const char*, int>{"both", "acme", 3},
        {"ttft", "acme", 3},
        {"tpot", "acme", 3},
        {"both", "globex", 3},
        {"tpot", "globex", 3}}) {
    const std::string line = absl::StrCat(attained(target, tenant), n, "\n");
    EXPECT_NE(metrics.find(line), std::string::npos) << "no \"" << line << "\"";
  }
  EXPECT_EQ(metrics.find(attained("ttft", "globex")), std::string::npos);
  EXPECT_THAT(metrics,
              HasSubstr("tessera_slo_missed_total{model_name=\"tiny-llama\",target=\"both\","
                        "tenant=\"acme\"} 0\n"));
  // Fairness (vtc, the default) charged both tenants; the policy is named; every step that ran
  // was measured, predicted and budgeted.
  EXPECT_THAT(metrics, HasSubstr("tessera_tenant_service_tokens{model_name=\"tiny-llama\","
                                 "tenant=\"acme\"} "));
  EXPECT_THAT(metrics, HasSubstr("tessera_tenant_service_tokens{model_name=\"tiny-llama\","
                                 "tenant=\"globex\"} "));
  EXPECT_THAT(metrics,
              HasSubstr("tessera_scheduler_info{model_name=\"tiny-llama\",fairness=\"vtc\","
                        "policy=\"slo\"} 1\n"));
  for (const char* name : {"tessera_step_seconds_count", "tessera_step_predicted_seconds_count",
                           "tessera_step_token_budget_count"}) {
    const std::string prefix = absl::StrCat(name, "{model_name=\"tiny-llama\"} ");
    const size_t at = metrics.find(prefix);
    ASSERT_NE(at, std::string::npos) << name;
    EXPECT_GT(std::stod(metrics.substr(at + prefix.size())), 0) << name;
  }
}

TEST_F(DaemonTest, AFullQueueRefusesWithResourceExhausted) {
  DaemonOptions o = BaseOptions();
  o.scheduler.max_num_seqs = 1;  // one request runs, the next waits
  o.scheduler.max_waiting_requests = 1;
  StartDaemon(o);
  std::unique_ptr<Client> client = Connect();
  absl::Notification streaming;
  absl::Status running, waiting;
  std::thread first([&] {
    running = client->Generate(LongRequest(1500), [&](const v1::GenerateResponse&) {
      if (!streaming.HasBeenNotified()) streaming.Notify();
      return true;
    });
  });
  streaming.WaitForNotification();
  std::thread second([&] { waiting = client->GenerateAndCollect(LongRequest(10)).status(); });
  // The second request is queued once the scheduler counts two in flight.
  for (int i = 0; i < 500 && daemon_->num_in_flight() < 2; ++i)
    absl::SleepFor(absl::Milliseconds(2));
  absl::Status third = client->GenerateAndCollect(TokenRequest({1, 415}, 2)).status();
  EXPECT_EQ(third.code(), absl::StatusCode::kResourceExhausted) << third;
  first.join();
  second.join();
  EXPECT_TRUE(running.ok()) << running;
  EXPECT_TRUE(waiting.ok()) << waiting;
  int status = 0;
  EXPECT_THAT(Get("/metrics", &status), HasSubstr("reason=\"RESOURCE_EXHAUSTED\""));
}

TEST_F(DaemonTest, SeededSamplesRepeatAndNSamplesArriveApart) {
  StartDaemon(BaseOptions());
  std::unique_ptr<Client> client = Connect();
  v1::GenerateRequest r = TokenRequest({1, 415, 2936}, 12);
  r.set_temperature(0.9f);
  r.set_top_p(0.95f);
  r.set_seed(1234);
  r.set_n(2);
  r.set_ignore_eos(true);
  absl::StatusOr<GenerateOutput> a = client->GenerateAndCollect(r);
  absl::StatusOr<GenerateOutput> b = client->GenerateAndCollect(r);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(a->samples.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(a->samples[i].token_ids.size(), 12u);
    EXPECT_EQ(a->samples[i].token_ids, b->samples[i].token_ids) << "sample " << i;
  }
  EXPECT_NE(a->samples[0].token_ids, a->samples[1].token_ids);
  EXPECT_EQ(a->usage.completion_tokens(), 24);
}

TEST_F(DaemonTest, ClientCancelAndDeadlineFreeTheRequest) {
  StartDaemon(BaseOptions());
  std::unique_ptr<Client> client = Connect();
  int seen = 0;
  absl::Status cancelled = client->Generate(LongRequest(), [&](const v1::GenerateResponse&) {
    return ++seen < 3;  // hang up after three messages
  });
  EXPECT_EQ(cancelled.code(), absl::StatusCode::kCancelled) << cancelled;
  EXPECT_TRUE(WaitIdle()) << daemon_->num_in_flight() << " requests still in flight";

  CallOptions call;
  call.timeout = absl::Milliseconds(300);
  absl::Status expired = client->GenerateAndCollect(LongRequest(4000), call).status();
  EXPECT_EQ(expired.code(), absl::StatusCode::kDeadlineExceeded) << expired;
  EXPECT_TRUE(WaitIdle()) << daemon_->num_in_flight() << " requests still in flight";
  EXPECT_TRUE(client->GenerateAndCollect(TokenRequest({1, 415}, 2)).ok());
}

TEST_F(DaemonTest, HealthMetricsAndReadiness) {
  StartDaemon(BaseOptions());
  std::unique_ptr<Client> client = Connect();
  EXPECT_EQ(*client->Health(""), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(*client->Health("tessera.v1.Inference"),
            grpc::health::v1::HealthCheckResponse::SERVING);
  ASSERT_TRUE(client->GenerateAndCollect(TokenRequest({1, 415, 2936}, 5)).ok());
  int status = 0;
  EXPECT_EQ(Get("/healthz", &status), "ok\n");
  EXPECT_EQ(status, 200);
  Get("/readyz", &status);
  EXPECT_EQ(status, 200);
  // The scheduler publishes its counters after the step that ended the stream, so the client can
  // see the last token a moment before /metrics counts it: scrape until it does (or 5 s pass).
  const std::string counted = "vllm:generation_tokens_total{model_name=\"tiny-llama\"} 5";
  std::string metrics = Get("/metrics", &status);
  for (int i = 0; i < 500 && metrics.find(counted) == std::string::npos; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
    metrics = Get("/metrics", &status);
  }
  EXPECT_EQ(status, 200);
  for (const char* name :
       {"vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
        "vllm:gpu_cache_usage_perc", "vllm:num_preemptions_total", "vllm:prompt_tokens_total",
        "vllm:generation_tokens_total", "vllm:request_success_total",
        "vllm:time_to_first_token_seconds", "vllm:inter_token_latency_seconds",
        "vllm:e2e_request_latency_seconds", "vllm:request_queue_time_seconds",
        "vllm:lora_requests_info", "vllm:cache_config_info"}) {
    EXPECT_THAT(metrics, HasSubstr(absl::StrCat("\n", name))) << name;
  }
  EXPECT_THAT(metrics, HasSubstr("model_name=\"tiny-llama\""));
  EXPECT_THAT(metrics, HasSubstr(counted));
  EXPECT_THAT(metrics, HasSubstr("vllm:prompt_tokens_total{model_name=\"tiny-llama\"} 3"));
}

TEST_F(DaemonTest, DrainLetsStreamsFinishAndRefusesNewCalls) {
  StartDaemon(BaseOptions());
  std::unique_ptr<Client> client = Connect();
  absl::Notification streaming;
  absl::StatusOr<GenerateOutput> long_out;
  std::thread stream([&] {
    int n = 0;
    GenerateOutput collected;
    v1::GenerateRequest r = LongRequest(600);
    absl::Status s = client->Generate(r, [&](const v1::GenerateResponse& m) {
      for (const v1::SampleDelta& d : m.samples()) n += d.token_ids_size();
      if (!streaming.HasBeenNotified()) streaming.Notify();
      return true;
    });
    if (s.ok()) {
      collected.samples.resize(1);
      collected.samples[0].token_ids.resize(n);
      long_out = collected;
    } else {
      long_out = s;
    }
  });
  streaming.WaitForNotification();
  std::thread drain([&] { daemon_->Drain(absl::Seconds(60)); });
  // Readiness drops at once; liveness stays.
  bool not_ready = false;
  for (int i = 0; i < 200 && !not_ready; ++i) {
    not_ready = *client->Health("tessera.v1.Inference") ==
                grpc::health::v1::HealthCheckResponse::NOT_SERVING;
    if (!not_ready) absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_TRUE(not_ready);
  int status = 0;
  Get("/readyz", &status);
  EXPECT_EQ(status, 503);
  absl::Status refused = client->GenerateAndCollect(TokenRequest({1, 415}, 2)).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
  stream.join();
  drain.join();
  ASSERT_TRUE(long_out.ok()) << long_out.status();
  EXPECT_EQ(long_out->samples[0].token_ids.size(), 600u);
}

TEST_F(DaemonTest, DrainTimeoutCancelsWhatIsLeftWithUnavailable) {
  StartDaemon(BaseOptions());
  std::unique_ptr<Client> client = Connect();
  absl::Notification streaming;
  absl::Status s;
  std::thread stream([&] {
    s = client->Generate(LongRequest(4000), [&](const v1::GenerateResponse&) {
      if (!streaming.HasBeenNotified()) streaming.Notify();
      return true;
    });
  });
  streaming.WaitForNotification();
  const absl::Time start = absl::Now();
  daemon_->Drain(absl::Milliseconds(200));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  stream.join();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
}

}  // namespace
}  // namespace tessera
