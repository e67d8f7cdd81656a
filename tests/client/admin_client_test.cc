// tessera::Client's tessera.v1.Admin calls against the fake Admin service.
#include <memory>
#include <string>

#include "client/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/fake_inference_server.h"

namespace tessera {
namespace {

using ::testing::ElementsAre;
using ::testing::Optional;

std::unique_ptr<Client> Connect(const std::string& target, ClientOptions options = {}) {
  options.target = target;
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(std::move(options));
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

std::vector<std::string> Names(const v1::ListAdaptersResponse& list) {
  std::vector<std::string> names;
  for (const v1::AdapterStatus& a : list.adapters()) {
    names.push_back(a.owner().empty() ? a.name() : a.owner() + "/" + a.name());
  }
  return names;
}

TEST(AdminClientTest, LoadAdapterSendsNamePathAndOwnerAndReturnsTheStatus) {
  FakeInferenceServer server;
  std::unique_ptr<Client> client = Connect(server.address());
  absl::StatusOr<v1::AdapterStatus> a = client->LoadAdapter("sql", "/adapters/sql-v2", "acme");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->name(), "sql");
  EXPECT_EQ(a->owner(), "acme");
  EXPECT_EQ(a->state(), "host");
  EXPECT_EQ(a->rank(), 8);
  const v1::LoadAdapterRequest sent = server.admin().last_load_request();
  EXPECT_EQ(sent.name(), "sql");
  EXPECT_EQ(sent.path(), "/adapters/sql-v2");
  EXPECT_EQ(sent.owner(), "acme");
  // A reload gets a newer version.
  absl::StatusOr<v1::AdapterStatus> again = client->LoadAdapter("sql", "/adapters/sql-v2", "acme");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_GT(again->version(), a->version());
}

TEST(AdminClientTest, LoadByNameLeavesPathAndOwnerEmpty) {
  FakeInferenceServer server;
  std::unique_ptr<Client> client = Connect(server.address());
  ASSERT_TRUE(client->LoadAdapter("chat").ok());
  EXPECT_EQ(server.admin().last_load_request().path(), "");
  EXPECT_EQ(server.admin().last_load_request().owner(), "");
}

TEST(AdminClientTest, ListShowsWhatWasLoadedAndUnloadRemovesIt) {
  FakeInferenceServer server;
  std::unique_ptr<Client> client = Connect(server.address());
  ASSERT_TRUE(client->LoadAdapter("b").ok());
  ASSERT_TRUE(client->LoadAdapter("a", "/x", "acme").ok());
  ASSERT_TRUE(client->LoadAdapter("a").ok());
  absl::StatusOr<v1::ListAdaptersResponse> list = client->ListAdapters();
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_THAT(Names(*list), ElementsAre("a", "acme/a", "b"));

  ASSERT_TRUE(client->UnloadAdapter("a", "acme").ok());
  EXPECT_EQ(server.admin().last_unload_request().name(), "a");
  EXPECT_EQ(server.admin().last_unload_request().owner(), "acme");
  EXPECT_FALSE(server.admin().last_unload_request().wait());
  list = client->ListAdapters();
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_THAT(Names(*list), ElementsAre("a", "b"));
}

TEST(AdminClientTest, ServerErrorsKeepTheirCodeAndMessage) {
  FakeInferenceServer server;
  std::unique_ptr<Client> client = Connect(server.address());
  absl::StatusOr<v1::AdapterStatus> missing = client->LoadAdapter("x", "/missing");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "adapter x: /missing/adapter_config.json: cannot open");
  EXPECT_EQ(client->LoadAdapter("").status().code(), absl::StatusCode::kInvalidArgument);
  absl::Status unknown = client->UnloadAdapter("nope");
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(unknown.message(), "adapter nope not found");
}

TEST(AdminClientTest, UnloadOfAnAdapterInUseRefusesUnlessItWaits) {
  FakeInferenceServer server;
  v1::AdapterStatus busy;
  busy.set_name("busy");
  busy.set_refcount(2);
  server.admin().Put(busy);
  std::unique_ptr<Client> client = Connect(server.address());
  EXPECT_EQ(client->UnloadAdapter("busy").code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(client->UnloadAdapter("busy", "", /*wait=*/true, absl::Seconds(3)).ok());
  EXPECT_TRUE(server.admin().last_unload_request().wait());
  EXPECT_EQ(server.admin().last_unload_request().wait_timeout_ms(), 3000u);
}

TEST(AdminClientTest, WaitTimeoutIsSentInWholeMillisecondsRoundedUp) {
  FakeInferenceServer server;
  std::unique_ptr<Client> client = Connect(server.address());
  auto sent_ms = [&](absl::Duration timeout) -> uint32_t {
    EXPECT_EQ(client->UnloadAdapter("none", "", true, timeout).code(), absl::StatusCode::kNotFound);
    return server.admin().last_unload_request().wait_timeout_ms();
  };
  EXPECT_EQ(sent_ms(absl::ZeroDuration()), 0u);   // no limit
  EXPECT_EQ(sent_ms(absl::Microseconds(1)), 1u);  // never rounded down to "no limit"
  EXPECT_EQ(sent_ms(absl::Microseconds(1500)), 2u);
  EXPECT_EQ(sent_ms(absl::Seconds(90)), 90000u);
  EXPECT_EQ(sent_ms(absl::InfiniteDuration()), 0u);
  EXPECT_EQ(sent_ms(absl::Hours(24 * 60)), 0u);  // past the field's range: no limit
}

TEST(AdminClientTest, NegativeWaitTimeoutIsRefusedWithoutACall) {
  FakeInferenceServer server;
  std::unique_ptr<Client> client = Connect(server.address());
  EXPECT_EQ(client->UnloadAdapter("a", "", true, absl::Seconds(-1)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(server.admin().last_unload_request().name(), "");
}

TEST(AdminClientTest, SendsTheApiKeyOnEveryAdminCall) {
  FakeInferenceServer server;
  server.admin().required_api_key = "sekrit";
  std::unique_ptr<Client> anonymous = Connect(server.address());
  EXPECT_EQ(anonymous->ListAdapters().status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(server.admin().last_authorization(), std::nullopt);

  ClientOptions options;
  options.api_key = "sekrit";
  std::unique_ptr<Client> client = Connect(server.address(), options);
  ASSERT_TRUE(client->LoadAdapter("a").ok());
  EXPECT_THAT(server.admin().last_authorization(), Optional(std::string("Bearer sekrit")));
  ASSERT_TRUE(client->ListAdapters().ok());
  ASSERT_TRUE(client->UnloadAdapter("a").ok());
  EXPECT_THAT(server.admin().last_authorization(), Optional(std::string("Bearer sekrit")));
}

TEST(AdminClientTest, CallTimeoutGivesDeadlineExceeded) {
  FakeInferenceServer server;
  ClientOptions options;
  options.default_timeout = absl::Milliseconds(200);
  std::unique_ptr<Client> client = Connect(server.address(), options);
  EXPECT_EQ(client->LoadAdapter("hold").status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(server.admin().hold_cancelled.WaitForNotificationWithTimeout(absl::Seconds(60)));
}

TEST(AdminClientTest, UnreachableServerFailsUnavailable) {
  std::unique_ptr<Client> client = Connect(UnusedLoopbackAddress());
  CallOptions call;
  call.timeout = absl::Seconds(60);
  EXPECT_EQ(client->LoadAdapter("a", "", "", call).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(client->UnloadAdapter("a", "", false, absl::ZeroDuration(), call).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(client->ListAdapters(call).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace tessera
