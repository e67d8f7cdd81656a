#include "scheduler/vtc_fairness.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace tessera {
namespace {

constexpr double kWin = 1.0, kWout = 2.0;  // the default token weights

// A continuous-batching server in miniature: a running batch that holds at most `capacity`
// tokens (each request reserves prompt + output), admissions in the order a picker chooses and
// only while the chosen tenant's next request fits (skipping it would break the guarantee), one
// output token per running request per step. It measures each tenant's weighted service itself,
// from what it served, not from the counters.
class MiniServer {
 public:
  struct Req {
    int64_t prompt = 0, output = 0;
  };
  MiniServer(VtcFairness* vtc, int64_t capacity) : vtc_(vtc), capacity_(capacity) {}

  void Submit(const std::string& tenant, Req r) {
    queues_[tenant].push_back(r);
    vtc_->OnWaiting(tenant);
  }
  size_t Waiting(const std::string& tenant) { return queues_[tenant].size(); }

  // `pick`: the tenant to admit next, or "" to stop admitting this step.
  template <typename Pick>
  void Step(Pick pick) {
    for (;;) {
      const std::string tenant = pick();
      if (tenant.empty() || queues_[tenant].empty()) break;
      Req r = queues_[tenant].front();
      if (reserved_ + r.prompt + r.output > capacity_) break;
      queues_[tenant].pop_front();
      ASSERT_TRUE(vtc_->OnLeftWaiting(tenant).ok());
      ASSERT_TRUE(vtc_->ChargeInput(tenant, r.prompt).ok());
      service_[tenant] += kWin * r.prompt / vtc_->weight(tenant);
      raw_service_[tenant] += kWin * r.prompt;
      reserved_ += r.prompt + r.output;
      running_.push_back({tenant, r, r.output});
    }
    for (Running& run : running_) {
      ASSERT_TRUE(vtc_->ChargeOutput(run.tenant, 1).ok());
      service_[run.tenant] += kWout / vtc_->weight(run.tenant);
      raw_service_[run.tenant] += kWout;
      --run.left;
    }
    for (const Running& run : running_) {
      if (run.left == 0) reserved_ -= run.req.prompt + run.req.output;
    }
    std::erase_if(running_, [](const Running& run) { return run.left == 0; });
  }
  void Step() {
    Step([&] { return vtc_->PickNext().value_or(""); });
  }

  double Service(const std::string& t) { return service_[t]; }
  double RawService(const std::string& t) { return raw_service_[t]; }

 private:
  struct Running {
    std::string tenant;
    Req req;
    int64_t left;
  };
  VtcFairness* vtc_;
  int64_t capacity_;
  int64_t reserved_ = 0;
  std::map<std::string, std::deque<Req>> queues_;
  std::vector<Running> running_;
  std::map<std::string, double> service_, raw_service_;
};

// Tracks D = S_f - S_g; the largest difference over any interval is max D - min D.
struct SpreadTracker {
  double lo = 0, hi = 0;
  void Add(double d) {
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  double Spread() const { return hi - lo; }
};

constexpr int64_t kMaxPrompt = 512, kMaxOutput = 256, kCapacity = 4096;

MiniServer::Req RandomReq(std::mt19937& rng) {
  return {std::uniform_int_distribution<int64_t>(1, kMaxPrompt)(rng),
          std::uniform_int_distribution<int64_t>(1, kMaxOutput)(rng)};
}

// 2 * max over tenants of (w_in * L_in + w_out * M) / weight; see vtc_fairness.h for why.
double VtcBound(double min_weight) {
  return 2 * (kWin * kMaxPrompt + kWout * kCapacity) / min_weight;
}

// Keeps both tenants backlogged for `steps` steps and returns the largest weighted-service
// difference over any interval. `heavy` sends twice as many, and longer, requests.
double BackloggedSpread(VtcFairness& vtc, int steps, uint32_t seed,
                        std::function<std::string()> picker = nullptr) {
  MiniServer server(&vtc, kCapacity);
  std::mt19937 rng(seed);
  SpreadTracker spread;
  for (int step = 0; step < steps; ++step) {
    while (server.Waiting("light") < 2) server.Submit("light", RandomReq(rng));
    while (server.Waiting("heavy") < 8) {
      MiniServer::Req r = RandomReq(rng);
      r.prompt = kMaxPrompt;
      server.Submit("heavy", r);
    }
    if (picker) {
      server.Step(picker);
    } else {
      server.Step();
    }
    spread.Add(server.Service("heavy") - server.Service("light"));
  }
  return spread.Spread();
}

TEST(VtcFairnessTest, BackloggedTenantsStayWithinTheBound) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    VtcFairness vtc;
    const double spread = BackloggedSpread(vtc, 10000, seed);
    EXPECT_LE(spread, VtcBound(1.0)) << "seed " << seed;
  }
}

TEST(VtcFairnessTest, TheBoundIsNotVacuous) {
  // The same load admitted by request order (what FCFS does when the heavy tenant sends more)
  // leaves the light tenant far behind: the spread measure detects unfairness.
  VtcFairness vtc;
  int turn = 0;
  const double spread = BackloggedSpread(vtc, 20000, 1, [&] {
    return (turn++ % 5 == 0) ? std::string("light") : std::string("heavy");
  });
  EXPECT_GT(spread, 5 * VtcBound(1.0));
}

TEST(VtcFairnessTest, WeightsTwoToOneGiveServiceTwoToOne) {
  VtcFairness vtc;
  ASSERT_TRUE(vtc.SetWeight("gold", 2.0).ok());
  MiniServer server(&vtc, kCapacity);
  std::mt19937 rng(3);
  SpreadTracker spread;
  for (int step = 0; step < 20000; ++step) {
    for (const char* t : {"gold", "bronze"}) {
      while (server.Waiting(t) < 4) server.Submit(t, RandomReq(rng));
    }
    server.Step();
    spread.Add(server.Service("gold") - server.Service("bronze"));
  }
  EXPECT_LE(spread.Spread(), VtcBound(1.0));
  const double ratio = server.RawService("gold") / server.RawService("bronze");
  EXPECT_NEAR(ratio, 2.0, 0.05);
}

TEST(VtcFairnessTest, ReturningIdleTenantBanksNoCredit) {
  VtcFairness vtc;
  MiniServer server(&vtc, kCapacity);
  std::mt19937 rng(4);
  auto run = [&](int steps, bool with_b) {
    for (int step = 0; step < steps; ++step) {
      while (server.Waiting("a") < 4) server.Submit("a", RandomReq(rng));
      if (with_b) {
        while (server.Waiting("b") < 4) server.Submit("b", RandomReq(rng));
      }
      server.Step();
    }
  };
  run(6000, false);  // "a" alone: b idle, its counter at 0
  const double a_before = server.Service("a"), b_before = server.Service("b");
  ASSERT_GT(a_before, 5 * VtcBound(1.0));  // credit b would bank without the lift
  // b returns: lifted to a's counter, so the two share from here on.
  SpreadTracker spread;
  for (int step = 0; step < 2000; ++step) {
    run(1, true);
    spread.Add((server.Service("a") - a_before) - (server.Service("b") - b_before));
  }
  EXPECT_LE(spread.Spread(), VtcBound(1.0));
  EXPECT_GE(vtc.Counter("b"), a_before - VtcBound(1.0));
}

TEST(VtcFairnessTest, LiftUsesTheLastTenantToLeaveWhenNoneIsBacklogged) {
  VtcFairness vtc;
  vtc.OnWaiting("a");
  ASSERT_TRUE(vtc.ChargeInput("a", 1000).ok());
  ASSERT_TRUE(vtc.OnLeftWaiting("a").ok());  // admitted; still running
  ASSERT_TRUE(vtc.ChargeOutput("a", 50).ok());
  EXPECT_EQ(vtc.Counter("a"), 1100);
  vtc.OnWaiting("b");  // nobody backlogged: lifted to a, the last to leave
  EXPECT_EQ(vtc.Counter("b"), 1100);
  vtc.OnWaiting("a");  // lifted to min over backlogged = b's 1100: unchanged
  EXPECT_EQ(vtc.Counter("a"), 1100);
  // A lift never lowers a counter.
  ASSERT_TRUE(vtc.ChargeInput("a", 500).ok());
  ASSERT_TRUE(vtc.OnLeftWaiting("a").ok());
  vtc.OnWaiting("a");
  EXPECT_EQ(vtc.Counter("a"), 1600);
}

TEST(VtcFairnessTest, FirstTenantEverIsNotLifted) {
  VtcFairness vtc;
  vtc.OnWaiting("x");
  EXPECT_EQ(vtc.Counter("x"), 0);
  vtc.OnWaiting("x");  // a second request does not lift again
  EXPECT_EQ(vtc.Waiting("x"), 2);
}

TEST(VtcFairnessTest, PickNextTakesTheSmallestCounterWithDeterministicTies) {
  VtcFairness vtc;
  EXPECT_FALSE(vtc.PickNext().has_value());
  for (const char* t : {"carol", "alice", "bob"}) vtc.OnWaiting(t);
  EXPECT_EQ(vtc.PickNext(), "alice");  // all at 0: the smallest name
  ASSERT_TRUE(vtc.ChargeInput("alice", 10).ok());
  EXPECT_EQ(vtc.PickNext(), "bob");
  ASSERT_TRUE(vtc.ChargeOutput("bob", 3).ok());  // 6 weighted
  EXPECT_EQ(vtc.PickNext(), "carol");
  ASSERT_TRUE(vtc.OnLeftWaiting("carol").ok());  // carol not backlogged any more
  EXPECT_EQ(vtc.PickNext(), "bob");
  EXPECT_EQ(vtc.BackloggedInOrder(), (std::vector<std::string>{"bob", "alice"}));
  const auto counters = vtc.Counters();
  ASSERT_EQ(counters.size(), 3u);
  EXPECT_EQ(counters[0], (std::pair<std::string, double>{"alice", 10}));
  EXPECT_EQ(counters[1], (std::pair<std::string, double>{"bob", 6}));
}

TEST(VtcFairnessTest, BadInputIsRefused) {
  VtcFairness vtc;
  absl::Status s = vtc.SetWeight("t", 0);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find("\"t\""), std::string::npos) << s;
  EXPECT_TRUE(absl::IsInvalidArgument(vtc.SetWeight("t", -1)));
  EXPECT_TRUE(absl::IsInvalidArgument(vtc.ChargeInput("t", -1)));
  EXPECT_TRUE(absl::IsInvalidArgument(vtc.ChargeOutput("t", -1)));
  s = vtc.OnLeftWaiting("nobody");
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_EQ(vtc.Waiting("nobody"), 0);
  EXPECT_TRUE(absl::IsInvalidArgument(VtcFairness::Create({.input_token_weight = -1}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      VtcFairness::Create({.input_token_weight = 0, .output_token_weight = 0}).status()));
  auto custom = VtcFairness::Create({.input_token_weight = 0.5, .output_token_weight = 1});
  ASSERT_TRUE(custom.ok());
  ASSERT_TRUE(custom->SetWeight("t", 2).ok());
  ASSERT_TRUE(custom->ChargeInput("t", 8).ok());
  ASSERT_TRUE(custom->ChargeOutput("t", 4).ok());
  EXPECT_EQ(custom->Counter("t"), (0.5 * 8 + 1 * 4) / 2);
}

}  // namespace
}  // namespace tessera
