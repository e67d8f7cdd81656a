// Sleep mode through the daemon (vLLM's /sleep, /wake_up, /is_sleeping and tessera.v1.Admin's
// Sleep, WakeUp, IsSleeping): admin keys only; while asleep the daemon is live but not ready and
// answers requests UNAVAILABLE / HTTP 503 (or parks them until a wake with --sleep-queue-timeout);
// after the wake greedy outputs, with and without an adapter, are what they were; the adapter
// registry survives; a drain while asleep ends at once. The tiny-llama fixture on the CPU engine.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "server/daemon.h"
#include "tessera/v1/admin.grpc.pb.h"
#include "tests/server/daemon_clients.h"
#include "tests/server/http_test_client.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;
using ::tessera::http_test::HttpReply;
using ::tessera::http_test::HttpTestClient;
using ::testing::HasSubstr;

const fs::path kFixtures(TESSERA_FIXTURES_DIR);
constexpr char kAdapter[] = "tiny-llama-r8-all";
constexpr char kCompletion[] =
    R"({"model": "tiny-llama", "prompt": [1, 450, 7483], "max_tokens": 4})";

class DaemonSleepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kFixtures / "adapters" / kAdapter / "adapter_config.json")) {
      GTEST_SKIP() << "fixtures absent";
    }
    work_ = fs::temp_directory_path() /
            absl::StrCat("tessera-sleep-", getpid(), "-",
                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(work_);
    fs::create_directories(work_ / "adapters");
    fs::copy(kFixtures / "adapters" / kAdapter, work_ / "adapters" / kAdapter,
             fs::copy_options::recursive);
    std::ofstream(work_ / "keys.json") << R"({"keys": [{"key": "sk-acme", "tenant": "acme"},
                        {"key": "sk-ops", "tenant": "ops", "role": "admin"}]})";
    DaemonOptions o;
    o.model_dir = (kFixtures / "models/tiny-llama").string();
    o.port = 0;
    o.http_port = 0;
    o.metrics_port = -1;
    o.engine.threads = 1;
    o.engine.kv_cache_bytes = int64_t{16} << 20;
    o.engine.max_loras = 2;
    o.api_keys_file = (work_ / "keys.json").string();
    o.adapter_dir = (work_ / "adapters").string();
    o.profile_steps = 0;
    Configure(o);
    absl::StatusOr<std::unique_ptr<Daemon>> d = Daemon::Start(o);
    ASSERT_TRUE(d.ok()) << d.status();
    daemon_ = *std::move(d);
  }
  virtual void Configure(DaemonOptions& o) { (void)o; }
  void TearDown() override {
    daemon_.reset();
    if (!work_.empty()) fs::remove_all(work_);
  }

  std::unique_ptr<Client> Connect(const std::string& key) const {
    return daemon_test::Connect(*daemon_, key, absl::Seconds(60));
  }
  std::unique_ptr<v1::Admin::Stub> Admin() const { return daemon_test::AdminStub(*daemon_); }
  static grpc::Status Call(const std::string& key, auto&& method) {
    return daemon_test::CallWithKey(key, method);
  }
  HttpReply Http(const std::string& method, const std::string& target, const std::string& key,
                 const std::string& body = "") const {
    HttpTestClient client(daemon_->http_port(), absl::Seconds(60));
    absl::StatusOr<HttpReply> r = client.Request(method, target, key, body);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : HttpReply{};
  }
  static v1::GenerateRequest Greedy(const std::string& adapter = "") {
    v1::GenerateRequest r;
    for (int32_t id : {1, 450, 7483, 310, 3444, 338}) r.add_token_ids(id);
    r.set_max_tokens(12);
    r.set_ignore_eos(true);
    r.set_adapter(adapter);
    return r;
  }
  static std::vector<int32_t> Tokens(Client& client, const v1::GenerateRequest& r) {
    absl::StatusOr<GenerateOutput> out = client.GenerateAndCollect(r);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? out->samples[0].token_ids : std::vector<int32_t>{};
  }
  std::string Metrics() const { return Http("GET", "/metrics", "").body; }

  fs::path work_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(DaemonSleepTest, BothLevelsOverHttpAnswer503WhileAsleepAndWakeComputingTheSame) {
  std::unique_ptr<Client> client = Connect("sk-acme");
  const std::vector<int32_t> base = Tokens(*client, Greedy());
  const std::vector<int32_t> adapted = Tokens(*client, Greedy(kAdapter));
  ASSERT_EQ(base.size(), 12u);
  ASSERT_NE(base, adapted);  // the adapter changes the output, so its reload is checked below

  for (const int level : {1, 2}) {
    SCOPED_TRACE(absl::StrCat("level ", level));
    const std::string sleep = absl::StrCat("/sleep?level=", level);
    EXPECT_EQ(Http("POST", sleep, "sk-acme").status, 403);
    EXPECT_EQ(Http("POST", sleep, "").status, 401);
    EXPECT_EQ(Http("GET", "/is_sleeping", "sk-acme").status, 403);
    const HttpReply slept = Http("POST", sleep, "sk-ops");
    ASSERT_EQ(slept.status, 200) << slept.body;

    const HttpReply is = Http("GET", "/is_sleeping", "sk-ops");
    EXPECT_EQ(is.status, 200);
    EXPECT_THAT(is.body, HasSubstr(R"("is_sleeping":true)"));
    EXPECT_THAT(is.body, HasSubstr(absl::StrCat(R"("level":)", level)));
    // Live, not ready.
    EXPECT_EQ(Http("GET", "/healthz", "").status, 200);
    EXPECT_EQ(Http("GET", "/readyz", "").status, 503);
    EXPECT_EQ(Http("GET", "/health", "").status, 503);
    EXPECT_FALSE(daemon_->ready());
    EXPECT_EQ(*client->Health("tessera.v1.Inference"),
              grpc::health::v1::HealthCheckResponse::NOT_SERVING);
    // Requests: UNAVAILABLE over gRPC, 503 over HTTP, both saying why.
    absl::StatusOr<GenerateOutput> refused = client->GenerateAndCollect(Greedy());
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
    EXPECT_THAT(refused.status().message(), HasSubstr("asleep"));
    const HttpReply completion = Http("POST", "/v1/completions", "sk-acme", kCompletion);
    EXPECT_EQ(completion.status, 503) << completion.body;
    EXPECT_THAT(completion.body, HasSubstr("asleep"));
    const std::string state = level == 1 ? "weights_offloaded" : "discard_all";
    EXPECT_THAT(Metrics(), HasSubstr(absl::StrCat(
                               R"(vllm:engine_sleep_state{model_name="tiny-llama",sleep_state=")",
                               state, R"("} 1)")));
    EXPECT_THAT(Metrics(), HasSubstr(R"(sleep_state="awake"} 0)"));

    const HttpReply woke = Http("POST", "/wake_up", "sk-ops");
    ASSERT_EQ(woke.status, 200) << woke.body;
    EXPECT_THAT(woke.body, HasSubstr("wake_seconds"));
    EXPECT_EQ(Http("GET", "/readyz", "").status, 200);
    EXPECT_TRUE(daemon_->ready());
    EXPECT_EQ(*client->Health("tessera.v1.Inference"),
              grpc::health::v1::HealthCheckResponse::SERVING);
    EXPECT_THAT(Metrics(), HasSubstr(R"(sleep_state="awake"} 1)"));
    EXPECT_THAT(Http("GET", "/is_sleeping", "sk-ops").body, HasSubstr(R"("is_sleeping":false)"));

    // The registry survived; the adapter reloads into the engine on its first use.
    const HttpReply models = Http("GET", "/v1/models", "sk-acme");
    EXPECT_THAT(models.body, HasSubstr(kAdapter));
    EXPECT_EQ(Tokens(*client, Greedy()), base);
    EXPECT_EQ(Tokens(*client, Greedy(kAdapter)), adapted);
    EXPECT_EQ(Http("POST", "/v1/completions", "sk-acme", kCompletion).status, 200);
  }
}

TEST_F(DaemonSleepTest, AdminRpcsSleepWakeAndTellTheState) {
  std::unique_ptr<v1::Admin::Stub> admin = Admin();
  v1::SleepRequest sleep;
  sleep.set_level(2);
  v1::SleepResponse slept;
  grpc::Status s = Call("sk-acme", [&](auto* c) { return admin->Sleep(c, sleep, &slept); });
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  s = Call("sk-ops", [&](auto* c) { return admin->Sleep(c, sleep, &slept); });
  ASSERT_TRUE(s.ok()) << s.error_message();

  v1::IsSleepingResponse is;
  s = Call("sk-ops", [&](auto* c) { return admin->IsSleeping(c, {}, &is); });
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(is.is_sleeping());
  EXPECT_EQ(is.level(), 2);

  v1::SleepRequest other;
  other.set_level(1);
  s = Call("sk-ops", [&](auto* c) { return admin->Sleep(c, other, &slept); });
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  v1::SleepRequest bad;
  bad.set_level(3);
  s = Call("sk-ops", [&](auto* c) { return admin->Sleep(c, bad, &slept); });
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("level must be 1"));
  EXPECT_EQ(Http("POST", "/sleep?level=7", "sk-ops").status, 400);

  v1::WakeUpResponse woke;
  s = Call("sk-acme", [&](auto* c) { return admin->WakeUp(c, {}, &woke); });
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  s = Call("sk-ops", [&](auto* c) { return admin->WakeUp(c, {}, &woke); });
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_GT(woke.wake_seconds(), 0);
  s = Call("sk-ops", [&](auto* c) { return admin->IsSleeping(c, {}, &is); });
  EXPECT_FALSE(is.is_sleeping());
  EXPECT_EQ(is.level(), 0);

  // The adapter registry is listed as before.
  v1::ListAdaptersResponse listed;
  v1::LoadAdapterRequest load;
  load.set_name(kAdapter);
  v1::AdapterStatus loaded;
  ASSERT_TRUE(Call("sk-ops", [&](auto* c) { return admin->LoadAdapter(c, load, &loaded); }).ok());
  ASSERT_TRUE(Call("sk-ops", [&](auto* c) { return admin->Sleep(c, other, &slept); }).ok());
  ASSERT_TRUE(Call("sk-ops", [&](auto* c) { return admin->WakeUp(c, {}, &woke); }).ok());
  ASSERT_TRUE(Call("sk-ops", [&](auto* c) { return admin->ListAdapters(c, {}, &listed); }).ok());
  ASSERT_EQ(listed.adapters_size(), 1);
  EXPECT_EQ(listed.adapters(0).name(), kAdapter);
}

class DaemonSleepQueueTest : public DaemonSleepTest {
 protected:
  void Configure(DaemonOptions& o) override {
    o.scheduler.asleep_queue_timeout = absl::Seconds(60);
  }
};

TEST_F(DaemonSleepQueueTest, RequestsWaitForTheWakeAndThenRun) {
  std::unique_ptr<Client> client = Connect("sk-acme");
  const std::vector<int32_t> base = Tokens(*client, Greedy());
  ASSERT_TRUE(daemon_->sleep().Sleep(SleepLevel::kOffloadWeights).ok());
  std::vector<int32_t> during;
  std::thread waiter([&] { during = Tokens(*client, Greedy()); });
  while (daemon_->num_in_flight() == 0) absl::SleepFor(absl::Milliseconds(5));
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_TRUE(during.empty());
  ASSERT_TRUE(daemon_->sleep().WakeUp().ok());
  waiter.join();
  EXPECT_EQ(during, base);
}

TEST_F(DaemonSleepQueueTest, DrainWhileAsleepEndsParkedRequestsAtOnce) {
  std::unique_ptr<Client> client = Connect("sk-acme");
  ASSERT_TRUE(daemon_->sleep().Sleep(SleepLevel::kDiscardWeights).ok());
  absl::Status parked;
  std::thread waiter([&] { parked = client->GenerateAndCollect(Greedy()).status(); });
  while (daemon_->num_in_flight() == 0) absl::SleepFor(absl::Milliseconds(5));
  const absl::Time start = absl::Now();
  daemon_->Drain(absl::Seconds(60));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  waiter.join();
  EXPECT_EQ(parked.code(), absl::StatusCode::kUnavailable) << parked;
}

}  // namespace
}  // namespace tessera
