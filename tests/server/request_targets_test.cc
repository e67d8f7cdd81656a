#include "server/request_targets.h"

#include <gtest/gtest.h>

namespace tessera {
namespace {

TEST(RequestTargetsTest, RequestThenTenantThenDaemonDefault) {
  SloDefaults defaults;
  defaults.ttft_target = absl::Milliseconds(1000);
  defaults.tpot_target = absl::Milliseconds(100);
  TenantPolicy tenant;
  tenant.ttft_target = absl::Milliseconds(300);

  GenerateRequest own;
  own.ttft_target = absl::Milliseconds(50);
  ApplySloTargets(&tenant, defaults, own);
  EXPECT_EQ(own.ttft_target, absl::Milliseconds(50));   // the request's own
  EXPECT_EQ(own.tpot_target, absl::Milliseconds(100));  // the tenant sets none: the default

  GenerateRequest bare;
  ApplySloTargets(&tenant, defaults, bare);
  EXPECT_EQ(bare.ttft_target, absl::Milliseconds(300));

  GenerateRequest no_tenant;
  ApplySloTargets(nullptr, SloDefaults{}, no_tenant);
  EXPECT_FALSE(no_tenant.ttft_target.has_value());  // best effort
  EXPECT_FALSE(no_tenant.tpot_target.has_value());
}

TEST(RequestTargetsTest, ReservationIsPromptPlusMaxTokensPerSample) {
  GenerateRequest r;
  r.prompt_token_ids = {1, 2, 3};
  r.max_tokens = 10;
  r.n = 4;
  EXPECT_EQ(TokenReservation(r), 43);
}

TEST(RequestTargetsTest, ConfiguresOnlyTenantsWithLimits) {
  std::map<std::string, TenantPolicy> tenants;
  tenants["a"].tokens_per_minute = 500;
  tenants["b"];
  TokenRateLimiter limiter;
  ASSERT_TRUE(ConfigureTokenLimits(tenants, limiter).ok());
  EXPECT_EQ(limiter.Limit("a"), 500);
  EXPECT_EQ(limiter.Limit("b"), 0);
}

}  // namespace
}  // namespace tessera
