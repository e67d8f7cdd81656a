// The daemon's request semantics that users of vLLM rely on, end to end through the SDK on the
// tiny-llama fixture: a request id is free once its stream ended, seed 0 is a seed, top_k -1 is
// off, unset fields take the generation config's defaults, errors name the field the caller sent,
// --log-requests writes one line per request with counts and times but no text or key, and the
// profiling pass at start seeds the step-time model, logs its fit and leaves the cache empty.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "server/daemon.h"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"
#include "tests/server/http_test_client.h"
#include "tests/server/prometheus_text.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

namespace fs = std::filesystem;
const fs::path kFixtures(TESSERA_FIXTURES_DIR);

class DaemonSemanticsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kFixtures / "models/tiny-llama/config.json")) GTEST_SKIP() << "no fixtures";
  }
  static DaemonOptions Options() {
    DaemonOptions o;
    o.model_dir = (kFixtures / "models/tiny-llama").string();
    o.port = 0;
    o.metrics_port = -1;
    o.engine.threads = 1;
    o.engine.kv_cache_bytes = int64_t{64} << 20;
    return o;
  }
  void Start(const DaemonOptions& o) {
    absl::StatusOr<std::unique_ptr<Daemon>> d = Daemon::Start(o);
    ASSERT_TRUE(d.ok()) << d.status();
    daemon_ = *std::move(d);
    ClientOptions co;
    co.target = absl::StrCat("127.0.0.1:", daemon_->grpc_port());
    co.default_timeout = absl::Seconds(60);
    client_ = *Client::Create(co);
  }
  static v1::GenerateRequest Prompt(int max_tokens) {
    v1::GenerateRequest r;
    r.set_text("The capital of France is");
    if (max_tokens > 0) r.set_max_tokens(max_tokens);
    r.set_ignore_eos(true);
    return r;
  }

  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<Client> client_;
};

// The id goes back before the final message leaves: reusing it at once never meets
// ALREADY_EXISTS (it did for 16 of 40 calls of 200 tokens).
TEST_F(DaemonSemanticsTest, ARequestIdIsFreeOnceItsStreamEnded) {
  Start(Options());
  v1::GenerateRequest r = Prompt(40);
  r.set_request_id("reused");
  for (int i = 0; i < 30; ++i) {
    absl::StatusOr<GenerateOutput> out = client_->GenerateAndCollect(r);
    ASSERT_TRUE(out.ok()) << "call " << i << ": " << out.status();
  }
}

TEST_F(DaemonSemanticsTest, SeedZeroIsASeedAndTopKMinusOneIsOff) {
  Start(Options());
  v1::GenerateRequest r = Prompt(24);
  r.set_temperature(1.5f);
  r.set_seed(0);
  r.set_top_k(-1);
  absl::StatusOr<GenerateOutput> a = client_->GenerateAndCollect(r);
  absl::StatusOr<GenerateOutput> b = client_->GenerateAndCollect(r);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->samples[0].token_ids, b->samples[0].token_ids);
  // Unseeded calls draw their own seeds: 24 draws at T = 1.5 do not all repeat three times.
  r.clear_seed();
  int same = 0;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<GenerateOutput> u = client_->GenerateAndCollect(r);
    ASSERT_TRUE(u.ok()) << u.status();
    same += u->samples[0].token_ids == a->samples[0].token_ids;
  }
  EXPECT_LT(same, 3);
}

TEST_F(DaemonSemanticsTest, ErrorsNameTheFieldTheCallerSent) {
  Start(Options());
  v1::GenerateRequest r = Prompt(4);
  r.set_logprobs(21);
  absl::StatusOr<GenerateOutput> out = client_->GenerateAndCollect(r);
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out.status().message(), HasSubstr("logprobs"));
  EXPECT_THAT(out.status().message(), Not(HasSubstr("num_logprobs")));
  r.set_logprobs(0);
  r.set_top_k(-5);
  out = client_->GenerateAndCollect(r);
  ASSERT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out.status().message(), HasSubstr("top_k"));
}

// --generation-config: a folder's generation_config.json gives unset fields their defaults (here
// max_new_tokens and a temperature that makes seeded runs differ from greedy); "vllm" ignores it.
TEST_F(DaemonSemanticsTest, UnsetFieldsTakeTheGenerationConfigDefaults) {
  const fs::path dir = fs::path(::testing::TempDir()) / "daemon_generation_config";
  fs::create_directories(dir);
  std::ofstream(dir / "generation_config.json") << R"({"max_new_tokens": 5, "temperature": 0.0})";
  DaemonOptions o = Options();
  o.generation_config = dir.string();
  Start(o);
  absl::StatusOr<GenerateOutput> out = client_->GenerateAndCollect(Prompt(0));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->samples[0].token_ids.size(), 5u);
  out = client_->GenerateAndCollect(Prompt(7));  // a set field wins
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->samples[0].token_ids.size(), 7u);

  daemon_.reset();
  o.generation_config = "vllm";
  Start(o);
  out = client_->GenerateAndCollect(Prompt(0));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->samples[0].token_ids.size(), 16u);  // tessera's own default

  daemon_.reset();
  std::ofstream(dir / "generation_config.json") << R"({"top_p": 3})";
  o.generation_config = dir.string();
  absl::StatusOr<std::unique_ptr<Daemon>> bad = Daemon::Start(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("top_p"));
}

// Captures the daemon's log (spdlog's default logger) while alive.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(stream_);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::string text() {
    spdlog::default_logger()->flush();
    return stream_.str();
  }

 private:
  std::ostringstream stream_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST_F(DaemonSemanticsTest, LogRequestsWritesOneLinePerRequestWithoutText) {
  LogCapture log;
  DaemonOptions o = Options();
  o.log_requests = true;
  Start(o);
  v1::GenerateRequest r = Prompt(6);
  r.set_text("zebra crossing secret");
  r.set_request_id("log-me");
  absl::StatusOr<GenerateOutput> out = client_->GenerateAndCollect(r);
  ASSERT_TRUE(out.ok()) << out.status();
  daemon_.reset();  // the call's line is written before the stream ends; stop to be sure
  const std::string text = log.text();
  EXPECT_THAT(text, HasSubstr("tesserad: request id=log-me tenant=default adapter=- "));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("prompt_tokens=", out->usage.prompt_tokens(),
                                           " output_tokens=6 queue_ms=")));
  EXPECT_THAT(text, HasSubstr("status=OK"));
  EXPECT_THAT(text, HasSubstr("ttft_ms="));
  EXPECT_THAT(text, HasSubstr("e2e_ms="));
  EXPECT_THAT(text, Not(HasSubstr("zebra")));
  EXPECT_THAT(text, Not(HasSubstr(out->samples[0].text)));
}

TEST_F(DaemonSemanticsTest, NoRequestLinesWithoutTheFlag) {
  LogCapture log;
  Start(Options());
  ASSERT_TRUE(client_->GenerateAndCollect(Prompt(2)).ok());
  daemon_.reset();
  const std::string text = log.text();
  EXPECT_THAT(text, HasSubstr("tesserad: serving"));  // the log itself works
  EXPECT_THAT(text, Not(HasSubstr("tesserad: request ")));
}

}  // namespace
}  // namespace tessera

namespace tessera {
namespace {

// The step-time model's coefficients and the KV cache usage, as /metrics exports them.
struct ScrapedModel {
  double coefficient_sum = 0;
  int terms = 0;
  double kv_usage = -1;
};

ScrapedModel ScrapeModel(int port) {
  ScrapedModel m;
  absl::StatusOr<http_test::HttpReply> reply = http_test::HttpGet(port, "/metrics");
  EXPECT_TRUE(reply.ok()) << reply.status();
  if (!reply.ok()) return m;
  absl::StatusOr<PrometheusText> text = ParsePrometheusText(reply->body);
  EXPECT_TRUE(text.ok()) << text.status();
  if (!text.ok()) return m;
  for (const PrometheusSample& s : text->Find("tessera_step_time_coefficient_seconds")) {
    m.coefficient_sum += s.value;
    ++m.terms;
  }
  for (const PrometheusSample& s : text->Find("vllm:kv_cache_usage_perc")) m.kv_usage = s.value;
  return m;
}

TEST_F(DaemonSemanticsTest, ProfilingPassSeedsTheStepTimeModelBeforeServing) {
  LogCapture log;
  DaemonOptions o = Options();
  o.metrics_port = 0;
  o.profile_steps = 7;  // the warm-up and 6 measured steps
  Start(o);
  const std::string text = log.text();
  EXPECT_THAT(text, HasSubstr("tesserad: step-time model from 6 profiled steps in "));
  EXPECT_THAT(text, HasSubstr("constant="));
  EXPECT_THAT(text, HasSubstr("; fit error mean "));
  // Seeded (the prior is all zeros) before any request, and the pass's blocks are free again.
  const ScrapedModel m = ScrapeModel(daemon_->metrics_port());
  EXPECT_EQ(m.terms, 5);
  EXPECT_GT(m.coefficient_sum, 0);
  EXPECT_EQ(m.kv_usage, 0);
  // It serves as usual afterwards.
  absl::StatusOr<GenerateOutput> out = client_->GenerateAndCollect(Prompt(4));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->usage.completion_tokens(), 4);
}

TEST_F(DaemonSemanticsTest, NoProfilingPassWithZeroSteps) {
  LogCapture log;
  DaemonOptions o = Options();
  o.metrics_port = 0;
  o.profile_steps = 0;
  Start(o);
  EXPECT_THAT(log.text(), Not(HasSubstr("profiled steps")));
  const ScrapedModel m = ScrapeModel(daemon_->metrics_port());
  EXPECT_EQ(m.terms, 5);
  EXPECT_EQ(m.coefficient_sum, 0);
}

}  // namespace
}  // namespace tessera
