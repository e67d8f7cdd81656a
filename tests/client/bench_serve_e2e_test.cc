// `tessera bench-serve` end to end: a real tesserad (the Daemon, in process, on the tiny-llama
// fixture and the CPU engine) with two tenants in its --api-keys file, loaded for a few seconds
// by RunBenchServe, whose JSON report must add up.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "client/bench_serve_command.h"
#include "nlohmann/json.hpp"
#include "server/daemon.h"
#include "tests/engine/test_files.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

const std::filesystem::path kFixtures(TESSERA_FIXTURES_DIR);

class BenchServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kFixtures / "models/tiny-llama/config.json")) {
      GTEST_SKIP() << "fixtures absent";
    }
    keys_ = std::filesystem::path(::testing::TempDir()) /
            absl::StrCat("bench-serve-keys-", getpid(), ".json");
    std::ofstream(keys_) << R"({"keys": [{"key": "sk-acme", "tenant": "acme"},
                                         {"key": "sk-globex", "tenant": "globex"}]})";
    DaemonOptions o;
    o.model_dir = testing::FixtureModelDir((kFixtures / "models/tiny-llama").string());
    o.port = 0;
    o.metrics_port = -1;
    o.api_keys_file = keys_.string();
    o.engine.threads = 1;  // the tests share two cores with the rest of the suite
    o.engine.kv_cache_bytes = int64_t{64} << 20;
    absl::StatusOr<std::unique_ptr<Daemon>> d = Daemon::Start(o);
    ASSERT_TRUE(d.ok()) << d.status();
    daemon_ = *std::move(d);
  }
  void TearDown() override {
    daemon_.reset();
    if (!keys_.empty()) std::filesystem::remove(keys_);
  }

  BenchServeOptions Options() const {
    BenchServeOptions o;
    o.connection.server = absl::StrCat("127.0.0.1:", daemon_->grpc_port());
    o.connection.timeout_seconds = 60;
    o.classes = {"name=short,weight=3,prompt=8:32,output=8,ttft_ms=2000,tpot_ms=500",
                 "name=long,weight=1,prompt=64:128,output=16,ttft_ms=5000,tpot_ms=1000"};
    // "intruder" has a key the daemon does not know: its requests fail UNAUTHENTICATED.
    o.tenants = {"name=acme,key=sk-acme,rate_share=3", "name=globex,key=sk-globex,rate_share=1",
                 "name=intruder,key=sk-wrong,rate_share=1"};
    o.json = true;
    return o;
  }

  std::filesystem::path keys_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(BenchServeTest, SweepReportCountsAddUp) {
  BenchServeOptions o = Options();
  o.request_rates = "6,12";
  o.duration_s = 1.5;
  o.warmup_s = 0.5;
  o.seed = 3;
  std::ostringstream out, err;
  ASSERT_EQ(RunBenchServe(o, out, err), 0) << err.str();
  EXPECT_THAT(err.str(), HasSubstr("[rate 12/s]"));  // the progress line
  const nlohmann::json report = nlohmann::json::parse(out.str());
  ASSERT_EQ(report["runs"].size(), 2u) << out.str();
  for (const nlohmann::json& run : report["runs"]) {
    SCOPED_TRACE(run.dump());
    const int64_t sent = run["requests"]["sent"];
    const int64_t completed = run["requests"]["completed"];
    const int64_t errors = run["requests"]["errors"];
    EXPECT_GT(sent, 0);
    EXPECT_EQ(sent, completed + errors);
    int64_t by_code = 0;
    for (const auto& [code, n] : run["errors_by_code"].items()) by_code += n.get<int64_t>();
    EXPECT_EQ(by_code, errors);
    // Only the intruder fails, and all of its requests do.
    const nlohmann::json& intruder = run["tenants"]["intruder"];
    EXPECT_EQ(run["errors_by_code"].value("UNAUTHENTICATED", 0), errors);
    EXPECT_EQ(intruder["requests"]["errors"], intruder["requests"]["sent"]);
    EXPECT_EQ(run["tenants"]["acme"]["requests"]["errors"], 0);
    EXPECT_EQ(run["tenants"]["globex"]["requests"]["errors"], 0);
    EXPECT_GT(run["tenants"]["acme"]["requests"]["completed"].get<int64_t>(), 0);
    // Classes and tenants partition the measured requests.
    int64_t class_sent = 0, tenant_sent = 0;
    for (const auto& [name, c] : run["classes"].items())
      class_sent += c["requests"]["sent"].get<int64_t>();
    for (const auto& [name, t] : run["tenants"].items())
      tenant_sent += t["requests"]["sent"].get<int64_t>();
    EXPECT_EQ(class_sent, sent);
    EXPECT_EQ(tenant_sent, sent);
    // Every completed request produced exactly its class's max_tokens.
    const int64_t short_done = run["classes"]["short"]["requests"]["completed"];
    const int64_t long_done = run["classes"]["long"].is_null()
                                  ? 0
                                  : run["classes"]["long"]["requests"]["completed"].get<int64_t>();
    EXPECT_EQ(run["output_tokens"], short_done * 8 + long_done * 16);
    EXPECT_EQ(run["classes"]["short"]["output_tokens"], short_done * 8);
    // Latencies were measured for every completed request.
    EXPECT_EQ(run["ttft_ms"]["count"], completed);
    EXPECT_EQ(run["tpot_ms"]["count"], completed);
    EXPECT_GT(run["ttft_ms"]["p50"].get<double>(), 0);
    EXPECT_GT(run["elapsed_s"].get<double>(), 0);
    EXPECT_GE(run["attainment"]["both"].get<double>(), 0);
  }
  EXPECT_EQ(report["runs"][0]["request_rate"], 6.0);
  EXPECT_EQ(report["runs"][1]["request_rate"], 12.0);
}

TEST_F(BenchServeTest, TraceRunSendsTheTracedRequests) {
  const std::filesystem::path trace =
      std::filesystem::path(::testing::TempDir()) / absl::StrCat("bench-trace-", getpid());
  std::ofstream(trace)
      << R"({"arrival_s": 0.0, "prompt_tokens": 20, "output_tokens": 5, "tenant": "acme"}
{"arrival_s": 0.2, "prompt": "The capital of France is", "output_tokens": 7, "tenant": "globex", "class": "text"}
{"arrival_s": 0.1, "prompt_tokens": 3, "output_tokens": 4, "tenant": "acme", "class": "short"}
)";
  BenchServeOptions o = Options();
  o.trace = trace.string();
  o.progress = false;
  std::ostringstream out, err;
  ASSERT_EQ(RunBenchServe(o, out, err), 0) << err.str();
  std::filesystem::remove(trace);
  EXPECT_EQ(err.str(), "");
  const nlohmann::json run = nlohmann::json::parse(out.str())["runs"][0];
  EXPECT_EQ(run["requests"]["sent"], 3);
  EXPECT_EQ(run["requests"]["completed"], 3);
  EXPECT_EQ(run["output_tokens"], 5 + 7 + 4);
  EXPECT_EQ(run["classes"]["text"]["output_tokens"], 7);
  EXPECT_EQ(
      run["prompt_tokens"].get<int64_t>() - run["classes"]["text"]["prompt_tokens"].get<int64_t>(),
      20 + 3);  // token-id prompts are exactly their length
  EXPECT_EQ(run["tenants"]["acme"]["requests"]["sent"], 2);
  EXPECT_TRUE(run["request_rate"].is_null());
}

TEST_F(BenchServeTest, BadFlagsFailBeforeAnyRequest) {
  BenchServeOptions o = Options();
  o.request_rate = "5";
  o.duration_s = 1;
  o.classes = {"name=huge,prompt=4000,output=200"};  // past the fixture's 4096-token context
  std::ostringstream out, err;
  EXPECT_EQ(RunBenchServe(o, out, err), 2);
  EXPECT_THAT(err.str(), HasSubstr("exceed the model's context of 4096 tokens"));
  o = Options();
  o.request_rate = "5";
  o.request_rates = "1,2";
  EXPECT_EQ(RunBenchServe(o, out, err), 2);
  EXPECT_THAT(err.str(), HasSubstr("exactly one of --request-rate"));
  o = Options();
  o.request_rate = "fast";
  o.duration_s = 1;
  EXPECT_EQ(RunBenchServe(o, out, err), 2);
  EXPECT_THAT(err.str(), HasSubstr("request rate \"fast\""));
  EXPECT_EQ(out.str(), "");
}

}  // namespace
}  // namespace tessera
