#include "server/api_keys.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/authenticator.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

constexpr char kGood[] = R"({
  "keys": [
    {"key": "sk-acme-1", "tenant": "acme", "role": "user"},
    {"key": "sk-acme-2", "tenant": "acme"},
    {"key": "sk-ops", "tenant": "ops", "role": "admin"}
  ],
  "tenants": {"acme": {"max_in_flight": 3}, "ops": {}}
})";

TEST(ApiKeysTest, ParsesKeysRolesAndTenantLimits) {
  absl::StatusOr<ApiKeys> keys = ApiKeys::Parse(kGood, "keys.json");
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(keys->num_keys(), 3u);
  ASSERT_NE(keys->Find("sk-acme-2"), nullptr);
  EXPECT_EQ(keys->Find("sk-acme-2")->tenant, "acme");
  EXPECT_EQ(keys->Find("sk-acme-2")->role, Role::kUser);
  EXPECT_EQ(keys->Find("sk-ops")->role, Role::kAdmin);
  EXPECT_EQ(keys->Find("sk-ops2"), nullptr);
  EXPECT_EQ(keys->Find("sk-op"), nullptr);
  EXPECT_EQ(keys->tenants().at("acme").max_in_flight, 3);
  EXPECT_FALSE(keys->tenants().at("ops").max_in_flight.has_value());
  EXPECT_EQ(keys->tenants().at("ops").weight, 1.0);
  EXPECT_FALSE(keys->tenants().at("ops").ttft_target.has_value());
  EXPECT_FALSE(keys->tenants().at("ops").tokens_per_minute.has_value());
}

TEST(ApiKeysTest, ParsesTenantTargetsWeightsAndTokenLimits) {
  absl::StatusOr<ApiKeys> keys = ApiKeys::Parse(R"({
    "keys": [{"key": "sk-a", "tenant": "a"}],
    "tenants": {"a": {"ttft_target_ms": 500, "tpot_target_ms": 40, "weight": 2.5,
                      "tokens_per_minute": 90000}}})",
                                                "keys.json");
  ASSERT_TRUE(keys.ok()) << keys.status();
  const TenantPolicy& a = keys->tenants().at("a");
  EXPECT_EQ(a.ttft_target, absl::Milliseconds(500));
  EXPECT_EQ(a.tpot_target, absl::Milliseconds(40));
  EXPECT_EQ(a.weight, 2.5);
  EXPECT_EQ(a.tokens_per_minute, 90000);
}

TEST(ApiKeysTest, RefusesBadFilesNamingTheProblem) {
  struct Case {
    const char* json;
    const char* message;
  };
  const Case cases[] = {
      {"not json", "not valid JSON"},
      {"[]", "expected a JSON object"},
      {R"({"keys": []})", "\"keys\" must be a non-empty array"},
      {R"({"keys": [{"key": "a", "tenant": "t"}], "extra": 1})", "unknown field \"extra\""},
      {R"({"keys": [{"key": "", "tenant": "t"}]})", "keys[0].key must be a non-empty string"},
      {R"({"keys": [{"key": "a", "tenant": "bad name"}]})", "keys[0].tenant must be"},
      {R"({"keys": [{"key": "a", "tenant": "t", "role": "root"}]})", "keys[0].role must be"},
      {R"({"keys": [{"key": "a", "tenant": "t", "rol": "user"}]})", "unknown field \"rol\""},
      {R"({"keys": [{"key": "a", "tenant": "t"}, {"key": "a", "tenant": "u"}]})",
       "keys[1].key repeats an earlier key"},
      {R"({"keys": [{"key": "a", "tenant": "t"}], "tenants": {"t": {"max_in_flight": 0}}})",
       "tenants.t.max_in_flight must be an integer in [1, 1000000]"},
      {R"({"keys": [{"key": "a", "tenant": "t"}], "tenants": {"t": {"max_inflight": 2}}})",
       "unknown field \"max_inflight\""},
      {R"({"keys": [{"key": "a", "tenant": "t"}], "tenants": {"t": {"weight": 0}}})",
       "tenants.t.weight must be a number in (0, 1000000]"},
      {R"({"keys": [{"key": "a", "tenant": "t"}], "tenants": {"t": {"weight": "2"}}})",
       "tenants.t.weight must be a number"},
      {R"({"keys": [{"key": "a", "tenant": "t"}], "tenants": {"t": {"ttft_target_ms": 0}}})",
       "tenants.t.ttft_target_ms must be an integer in [1, 3600000]"},
      {R"({"keys": [{"key": "a", "tenant": "t"}], "tenants": {"t": {"tpot_target_ms": 1.5}}})",
       "tenants.t.tpot_target_ms must be an integer"},
      {R"({"keys": [{"key": "a", "tenant": "t"}], "tenants": {"t": {"tokens_per_minute": -1}}})",
       "tenants.t.tokens_per_minute must be an integer in [1, "},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ApiKeys> keys = ApiKeys::Parse(c.json, "keys.json");
    ASSERT_FALSE(keys.ok()) << c.json;
    EXPECT_EQ(keys.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(keys.status().message(), HasSubstr(c.message)) << c.json;
    EXPECT_THAT(keys.status().message(), HasSubstr("keys.json")) << c.json;
  }
  EXPECT_EQ(ApiKeys::Load("/nonexistent/keys.json").status().code(), absl::StatusCode::kNotFound);
}

TEST(ApiKeysTest, TenantNames) {
  EXPECT_TRUE(IsValidTenantName("acme-corp_1.eu"));
  EXPECT_FALSE(IsValidTenantName(""));
  EXPECT_FALSE(IsValidTenantName(std::string(65, 'a')));
  EXPECT_FALSE(IsValidTenantName("a\"b"));
  EXPECT_FALSE(IsValidTenantName("a/b"));
}

TEST(AuthenticatorTest, WithoutKeysEveryCallerIsTheAnonymousAdmin) {
  Authenticator auth(std::nullopt);
  absl::StatusOr<Principal> p = auth.Authenticate(std::nullopt);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->tenant, "default");
  EXPECT_EQ(p->role, Role::kAdmin);
  EXPECT_TRUE(auth.Authenticate("Bearer anything").ok());
}

TEST(AuthenticatorTest, WithKeysABearerKeyIsRequired) {
  Authenticator auth(*ApiKeys::Parse(kGood, "keys.json"));
  absl::StatusOr<Principal> p = auth.Authenticate("Bearer sk-acme-1");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->tenant, "acme");
  EXPECT_EQ(auth.Authenticate("bearer   sk-ops ")->tenant, "ops");

  const absl::StatusOr<Principal> missing = auth.Authenticate(std::nullopt);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(missing.status().message(), HasSubstr("authorization: Bearer"));
  EXPECT_EQ(auth.Authenticate("sk-acme-1").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(auth.Authenticate("Basic sk-acme-1").status().code(),
            absl::StatusCode::kUnauthenticated);
  const absl::StatusOr<Principal> unknown = auth.Authenticate("Bearer sk-acme-3");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(unknown.status().message(), HasSubstr("unknown API key"));
  EXPECT_EQ(auth.Authenticate("Bearer ").status().code(), absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace tessera
