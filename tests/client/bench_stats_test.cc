#include "client/bench_stats.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessera {
namespace {

using ::testing::HasSubstr;

TEST(PercentileTest, InterpolatesBetweenClosestRanks) {
  // Ranks 0..3 over {1, 2, 3, 4}: p50 sits at rank 1.5, p90 at 2.7, p99 at 2.97.
  const std::vector<double> v = {4, 1, 3, 2};  // unsorted on purpose
  EXPECT_DOUBLE_EQ(Percentile(v, 0), 1);
  EXPECT_DOUBLE_EQ(Percentile(v, 50), 2.5);
  EXPECT_DOUBLE_EQ(Percentile(v, 90), 3.7);
  EXPECT_DOUBLE_EQ(Percentile(v, 99), 3.97);
  EXPECT_DOUBLE_EQ(Percentile(v, 100), 4);
  EXPECT_DOUBLE_EQ(Percentile({7}, 99), 7);
  EXPECT_TRUE(std::isnan(Percentile({}, 50)));
  // 11 values 0, 10, ..., 100: p90 is exactly the value 90.
  std::vector<double> tens;
  for (int i = 0; i <= 10; ++i) tens.push_back(10 * i);
  EXPECT_DOUBLE_EQ(Percentile(tens, 90), 90);
}

TEST(SummarizeTest, MeanAndMaxAndEmpty) {
  const Distribution d = Summarize({10, 20, 60});
  EXPECT_EQ(d.count, 3u);
  EXPECT_DOUBLE_EQ(d.mean, 30);
  EXPECT_DOUBLE_EQ(d.p50, 20);
  EXPECT_DOUBLE_EQ(d.max, 60);
  EXPECT_TRUE(std::isnan(Summarize({}).p50));
}

// Five requests by hand: one warm-up, then four measured ones of two classes and two tenants.
//   0 (warm-up)                                                  -> left out
//   1 chat/a: ttft 50 ms (target 100), 11 tokens over 200 ms: tpot 20 (target 25) -> both met
//   2 chat/a: ttft 200 ms (miss), 6 tokens over 100 ms: tpot 20 (met)
//   3 doc/b: ttft 500 ms (target 1000, met), 11 tokens over 1 s: tpot 100 (target 50, miss)
//   4 doc/b: DEADLINE_EXCEEDED -> meets nothing
// The measured window starts at 1 s; the last request ends at 5 s: elapsed 4 s.
class BuildReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    w_.classes = {RequestClass{.name = "chat", .ttft_target_ms = 100, .tpot_target_ms = 25},
                  RequestClass{.name = "doc", .ttft_target_ms = 1000, .tpot_target_ms = 50}};
    w_.tenants = {TenantSpec{.name = "a", .api_key = ""}, TenantSpec{.name = "b", .api_key = ""}};
    w_.measure_start_s = 1;
    w_.measure_end_s = 4;
    Add(0.5, 0, 0, true, Record(0.5, 0.5, 0.6, 0.7, 0.8, 3));
    Add(1.0, 0, 0, false, Record(1.0, 1.0, 1.05, 1.25, 1.3, 11));
    Add(2.0, 0, 0, false, Record(2.0, 2.0, 2.2, 2.3, 2.35, 6));
    Add(3.0, 1, 1, false, Record(3.0, 3.02, 3.5, 4.5, 4.6, 11));
    RequestRecord failed = Record(4.0, 4.0, -1, -1, 5.0, 0);
    failed.code = absl::StatusCode::kDeadlineExceeded;
    failed.error = "Deadline Exceeded";
    Add(4.0, 1, 1, false, failed);
  }

  static RequestRecord Record(double scheduled, double sent, double first, double last, double end,
                              int tokens) {
    RequestRecord r;
    r.scheduled_s = scheduled;
    r.sent_s = sent;
    r.first_token_s = first;
    r.last_token_s = last;
    r.end_s = end;
    r.output_tokens = tokens;
    r.prompt_tokens = tokens > 0 ? 10 : 0;
    return r;
  }

  void Add(double arrival, int class_id, int tenant_id, bool warmup, RequestRecord record) {
    PlannedRequest p;
    p.arrival_s = arrival;
    p.class_id = class_id;
    p.tenant_id = tenant_id;
    p.warmup = warmup;
    p.ttft_target_ms = w_.classes[class_id].ttft_target_ms;
    p.tpot_target_ms = w_.classes[class_id].tpot_target_ms;
    w_.requests.push_back(p);
    records_.push_back(record);
  }

  Workload w_;
  std::vector<RequestRecord> records_;
};

TEST_F(BuildReportTest, CountsAttainmentGoodputAndThroughput) {
  const RunReport r = BuildReport(w_, records_);
  EXPECT_EQ(r.warmup_sent, 1);
  EXPECT_EQ(r.warmup_completed, 1);
  EXPECT_EQ(r.all.sent, 4);
  EXPECT_EQ(r.all.completed, 3);
  EXPECT_EQ(r.all.errors, 1);
  EXPECT_EQ(r.all.errors_by_code.at("DEADLINE_EXCEEDED"), 1);
  EXPECT_EQ(r.all.met_both, 1);
  EXPECT_EQ(r.all.met_ttft, 2);
  EXPECT_EQ(r.all.met_tpot, 2);
  EXPECT_EQ(r.all.output_tokens, 28);
  EXPECT_DOUBLE_EQ(r.elapsed_s, 4);
  EXPECT_DOUBLE_EQ(r.window_s, 3);
  // TTFT 50, 200, 500; TPOT 20, 20, 100.
  EXPECT_NEAR(r.all.ttft_ms.p50, 200, 1e-9);
  EXPECT_NEAR(r.all.ttft_ms.max, 500, 1e-9);
  EXPECT_NEAR(r.all.tpot_ms.p50, 20, 1e-9);
  EXPECT_NEAR(r.all.tpot_ms.p90, 84, 1e-9);  // rank 1.8: 20 + 0.8 * 80
  EXPECT_EQ(r.all.ttft_ms.count, 3u);

  const GroupStats& chat = r.by_class.at("chat");
  EXPECT_EQ(chat.sent, 2);
  EXPECT_EQ(chat.met_both, 1);
  EXPECT_EQ(chat.met_ttft, 1);
  EXPECT_EQ(chat.met_tpot, 2);
  const GroupStats& doc = r.by_class.at("doc");
  EXPECT_EQ(doc.errors, 1);
  EXPECT_EQ(doc.met_both, 0);
  EXPECT_EQ(doc.met_ttft, 1);
  EXPECT_EQ(r.by_tenant.at("a").met_both, 1);
  EXPECT_EQ(r.by_tenant.at("b").sent, 2);

  // Lag: request 3 went out 20 ms late, past kLateMs.
  EXPECT_NEAR(r.lag_ms.max, 20, 1e-9);
  EXPECT_EQ(r.late, 1);

  const nlohmann::json j = ReportJson(r);
  EXPECT_EQ(j["requests"]["sent"], 4);
  EXPECT_EQ(j["requests"]["completed"], 3);
  EXPECT_DOUBLE_EQ(j["attainment"]["both"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(j["attainment"]["ttft"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j["goodput_requests_per_s"].get<double>(), 0.25);  // 1 good request / 4 s
  EXPECT_DOUBLE_EQ(j["throughput"]["output_tokens_per_s"].get<double>(), 7);
  EXPECT_DOUBLE_EQ(j["throughput"]["requests_per_s"].get<double>(), 0.75);
  EXPECT_EQ(j["classes"]["doc"]["errors_by_code"]["DEADLINE_EXCEEDED"], 1);
  EXPECT_DOUBLE_EQ(j["tenants"]["a"]["attainment"]["both"].get<double>(), 0.5);
  EXPECT_EQ(j["warmup"]["sent"], 1);
  EXPECT_EQ(j["first_error"]["DEADLINE_EXCEEDED"], "Deadline Exceeded");

  const std::string text = FormatReport(r, "rate 1/s");
  EXPECT_THAT(text, HasSubstr("4 requests sent, 3 completed, 1 failed (+ 1 warm-up)"));
  EXPECT_THAT(text, HasSubstr("goodput 0.25 req/s (25.0% met both targets)"));
  EXPECT_THAT(text, HasSubstr("tenant b"));
}

TEST(TargetsTest, MissingTargetsAndShortOutputsCountAsMet) {
  PlannedRequest no_targets;
  RequestRecord r;
  r.scheduled_s = 0;
  r.first_token_s = 9;
  r.last_token_s = 9;
  r.output_tokens = 1;
  EXPECT_TRUE(MetTtft(no_targets, r));
  EXPECT_TRUE(MetTpot(no_targets, r));
  PlannedRequest tight;
  tight.ttft_target_ms = 100;
  tight.tpot_target_ms = 1;
  EXPECT_FALSE(MetTtft(tight, r));  // 9 s
  EXPECT_TRUE(MetTpot(tight, r));   // one token has no TPOT
  r.first_token_s = 0.1;            // exactly on target
  EXPECT_TRUE(MetTtft(tight, r));
  r.code = absl::StatusCode::kUnavailable;
  EXPECT_FALSE(MetTtft(no_targets, r));
  EXPECT_FALSE(MetTpot(no_targets, r));
}

TEST(ReportJsonTest, EmptyDistributionsAreNull) {
  Workload w;
  w.classes = {RequestClass{.name = "c"}};
  PlannedRequest p;
  w.requests = {p};
  RequestRecord failed;
  failed.code = absl::StatusCode::kUnauthenticated;
  failed.end_s = 1;
  const nlohmann::json j = ReportJson(BuildReport(w, {failed}));
  EXPECT_TRUE(j["ttft_ms"]["p50"].is_null());
  EXPECT_EQ(j["errors_by_code"]["UNAUTHENTICATED"], 1);
  EXPECT_EQ(j["attainment"]["both"], 0.0);
}

}  // namespace
}  // namespace tessera
