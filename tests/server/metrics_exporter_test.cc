#include "server/metrics_exporter.h"

#include <cmath>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "server/metric_names.h"
#include "tests/server/prometheus_text.h"

namespace tessera {
namespace {

namespace names = metric_names;
using Labels = std::map<std::string, std::string>;

constexpr char kModel[] = "tiny-llama";

CacheConfigInfo TestCacheConfig() {
  CacheConfigInfo c;
  c.block_size = 16;
  c.num_gpu_blocks = 1024;
  return c;
}

PrometheusText Parse(const std::string& text) {
  absl::StatusOr<PrometheusText> parsed = ParsePrometheusText(text);
  EXPECT_TRUE(parsed.ok()) << parsed.status() << "\n" << text;
  return parsed.ok() ? *std::move(parsed) : PrometheusText{};
}

double ValueOf(const PrometheusText& t, absl::string_view name, const Labels& labels = {}) {
  absl::StatusOr<double> v = t.Value(name, labels);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : std::nan("");
}

// A busy moment: two tenants, some of everything.
SchedulerStats BusyStats() {
  SchedulerStats s;
  s.num_requests_running = 3;
  s.num_requests_waiting = 5;
  s.num_seqs_running = 4;
  s.kv_usage = 0.25;
  s.num_preemptions_total = 2;
  s.num_steps_total = 40;
  s.prefix_cache_queries_total = 900;
  s.prefix_cache_hits_total = 640;
  s.prompt_tokens_total = 1000;
  s.generation_tokens_total = 300;
  s.requests_finished = {{"stop", 7}, {"length", 2}};
  s.requests_rejected_total = 1;
  s.ttft_target_met = 6;
  s.ttft_target_missed = 1;
  s.tpot_target_met = 4;
  s.tpot_target_missed = 3;
  for (double v : {0.003, 0.05, 0.05, 3.0}) s.time_to_first_token_seconds.Observe(v);
  for (double v : {0.02, 0.02, 0.3}) s.inter_token_latency_seconds.Observe(v);
  for (double v : {0.4, 12.0}) s.e2e_request_latency_seconds.Observe(v);
  for (double v : {0.1, 0.9}) s.queue_time_seconds.Observe(v);
  for (double v : {1, 7, 100, 5000, 9000}) s.tokens_per_step.Observe(v);
  TenantStats& a = s.tenants["alpha"];
  a.running = 2;
  a.waiting = 1;
  a.requests_received = 8;
  a.requests_rejected = 1;
  a.requests_finished = 4;
  a.prompt_tokens = 600;
  a.generation_tokens = 200;
  a.ttft_target_met = 3;
  a.ttft_target_missed = 1;
  a.tpot_target_met = 2;
  a.tpot_target_missed = 2;
  a.both_targets_met = 2;
  a.both_targets_missed = 2;
  a.fairness_counter = 812.5;
  s.scheduling_policy = "slo";
  s.fairness = "vtc";
  s.step_time_coefficients = {0.002, 0.0015, 0.0004, 2e-6, 1e-5};
  for (double v : {64, 64, 300}) s.step_token_budget.Observe(v);
  for (double v : {0.004, 0.02, 0.3}) s.step_seconds.Observe(v);
  for (double v : {0.005, 0.02, 0.2}) s.step_predicted_seconds.Observe(v);
  for (double v : {0.8, 1.0, 1.5}) s.step_prediction_ratio.Observe(v);
  TenantStats& b = s.tenants["beta"];  // no latency targets
  b.fairness_counter = 400;
  b.running = 1;
  b.waiting = 4;
  b.requests_received = 10;
  b.requests_finished = 5;
  b.prompt_tokens = 400;
  b.generation_tokens = 100;
  return s;
}

TEST(MetricsExporterTest, ExportsEveryNameWithItsType) {
  MetricsExporter exporter(kModel, TestCacheConfig());
  EdgeStats edge;
  edge.tenants["alpha"].rejected["UNAUTHENTICATED"] = 1;
  edge.tenants["alpha"].started = 7;
  edge.tenants["alpha"].finished["OK"] = 4;
  const PrometheusText t = Parse(exporter.Render(BusyStats(), edge));
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"vllm:num_requests_running", "gauge"},
      {"vllm:num_requests_waiting", "gauge"},
      {"vllm:kv_cache_usage_perc", "gauge"},
      {"vllm:gpu_cache_usage_perc", "gauge"},
      {"vllm:lora_requests_info", "gauge"},
      {"vllm:cache_config_info", "gauge"},
      {"vllm:num_preemptions_total", "counter"},
      {"vllm:prompt_tokens_total", "counter"},
      {"vllm:generation_tokens_total", "counter"},
      {"vllm:request_success_total", "counter"},
      {"vllm:prefix_cache_queries_total", "counter"},
      {"vllm:prefix_cache_hits_total", "counter"},
      {"vllm:time_to_first_token_seconds", "histogram"},
      {"vllm:inter_token_latency_seconds", "histogram"},
      {"vllm:e2e_request_latency_seconds", "histogram"},
      {"vllm:request_queue_time_seconds", "histogram"},
      {"vllm:iteration_tokens_total", "histogram"},
      {"tessera_requests_received_total", "counter"},
      {"tessera_requests_rejected_total", "counter"},
      {"tessera_requests_finished_total", "counter"},
      {"tessera_prompt_tokens_total", "counter"},
      {"tessera_generation_tokens_total", "counter"},
      {"tessera_requests_running", "gauge"},
      {"tessera_requests_waiting", "gauge"},
      {"tessera_streams_started_total", "counter"},
      {"tessera_streams_finished_total", "counter"},
      {"tessera_ttft_target_total", "counter"},
      {"tessera_tpot_target_total", "counter"},
      {"tessera_scheduler_steps_total", "counter"},
      {"tessera_sequences_running", "gauge"},
      {"tessera_adapter_loads_total", "counter"},
      {"tessera_adapter_load_failures_total", "counter"},
      {"tessera_adapter_evictions_total", "counter"},
      {"tessera_adapter_load_seconds_total", "counter"},
      {"tessera_adapter_load_attempts_total", "counter"},
      {"tessera_adapters_resident", "gauge"},
      {"tessera_adapter_host_bytes", "gauge"},
      {"tessera_adapter_host_cache_bytes", "gauge"},
      {"tessera_adapter_kv_blocks", "gauge"},
      {"tessera_adapter_device_loads_total", "counter"},
      {"tessera_adapter_device_evictions_total", "counter"},
      {"tessera_slo_attained_total", "counter"},
      {"tessera_slo_missed_total", "counter"},
      {"tessera_tenant_service_tokens", "gauge"},
      {"tessera_scheduler_info", "gauge"},
      {"tessera_step_token_budget", "histogram"},
      {"tessera_step_seconds", "histogram"},
      {"tessera_step_predicted_seconds", "histogram"},
      {"tessera_step_prediction_ratio", "histogram"},
      {"tessera_step_time_coefficient_seconds", "gauge"},
      {"tessera_step_time_margin", "gauge"},
      {"vllm:engine_sleep_state", "gauge"},
      {"tessera_last_wake_seconds", "gauge"},
  };
  for (const auto& [name, type] : expected) {
    auto it = t.types.find(name);
    ASSERT_NE(it, t.types.end()) << "no TYPE line for " << name;
    EXPECT_EQ(it->second, type) << name;
  }
  EXPECT_EQ(t.types.size(), expected.size()) << "a family the list above does not name";
  // Every sample belongs to a typed family and carries the model name.
  for (const PrometheusSample& s : t.samples) {
    std::string family = s.name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (!t.types.contains(family) && absl::EndsWith(family, suffix)) {
        family.resize(family.size() - std::string_view(suffix).size());
      }
    }
    EXPECT_TRUE(t.types.contains(family)) << s.name;
    EXPECT_EQ(s.labels.at(names::kModelNameLabel), kModel) << s.name;
  }
}

TEST(MetricsExporterTest, SleepStateIsOneOnTheCurrentStateOnly) {
  MetricsExporter exporter(kModel, TestCacheConfig());
  SchedulerStats stats = BusyStats();
  stats.sleep_level = SleepLevel::kDiscardWeights;
  stats.last_wake_seconds = 0.25;
  const PrometheusText t = Parse(exporter.Render(stats, EdgeStats{}));
  EXPECT_EQ(ValueOf(t, names::kEngineSleepState, {{names::kSleepStateLabel, "awake"}}), 0);
  EXPECT_EQ(ValueOf(t, names::kEngineSleepState, {{names::kSleepStateLabel, "weights_offloaded"}}),
            0);
  EXPECT_EQ(ValueOf(t, names::kEngineSleepState, {{names::kSleepStateLabel, "discard_all"}}), 1);
  EXPECT_EQ(ValueOf(t, names::kLastWakeSeconds), 0.25);
  // Awake again (the same exporter: the series are updated, not added).
  stats.sleep_level = SleepLevel::kAwake;
  const PrometheusText awake = Parse(exporter.Render(stats, EdgeStats{}));
  EXPECT_EQ(ValueOf(awake, names::kEngineSleepState, {{names::kSleepStateLabel, "awake"}}), 1);
  EXPECT_EQ(ValueOf(awake, names::kEngineSleepState, {{names::kSleepStateLabel, "discard_all"}}),
            0);
}

TEST(MetricsExporterTest, ValuesComeFromTheStats) {
  MetricsExporter exporter(kModel, TestCacheConfig());
  const PrometheusText t = Parse(exporter.Render(BusyStats(), EdgeStats{}));
  EXPECT_EQ(ValueOf(t, names::kNumRequestsRunning), 3);
  EXPECT_EQ(ValueOf(t, names::kNumRequestsWaiting), 5);
  EXPECT_EQ(ValueOf(t, names::kKvCacheUsagePerc), 0.25);
  EXPECT_EQ(ValueOf(t, names::kGpuCacheUsagePerc), 0.25);
  EXPECT_EQ(ValueOf(t, names::kSequencesRunning), 4);
  EXPECT_EQ(ValueOf(t, names::kNumPreemptionsTotal), 2);
  EXPECT_EQ(ValueOf(t, names::kPromptTokensTotal), 1000);
  EXPECT_EQ(ValueOf(t, names::kGenerationTokensTotal), 300);
  EXPECT_EQ(ValueOf(t, names::kSchedulerSteps), 40);
  EXPECT_EQ(ValueOf(t, "vllm:prefix_cache_queries_total"), 900);
  EXPECT_EQ(ValueOf(t, "vllm:prefix_cache_hits_total"), 640);
  EXPECT_EQ(ValueOf(t, names::kRequestSuccessTotal, {{"finished_reason", "stop"}}), 7);
  EXPECT_EQ(ValueOf(t, names::kRequestSuccessTotal, {{"finished_reason", "length"}}), 2);
  // vLLM's reasons exist from the start.
  EXPECT_EQ(ValueOf(t, names::kRequestSuccessTotal, {{"finished_reason", "abort"}}), 0);
  EXPECT_EQ(ValueOf(t, names::kTtftTarget, {{"outcome", "met"}}), 6);
  EXPECT_EQ(ValueOf(t, names::kTtftTarget, {{"outcome", "missed"}}), 1);
  EXPECT_EQ(ValueOf(t, names::kTpotTarget, {{"outcome", "met"}}), 4);
  EXPECT_EQ(ValueOf(t, names::kTpotTarget, {{"outcome", "missed"}}), 3);
  EXPECT_EQ(ValueOf(t, names::kTenantRequestsRunning, {{"tenant", "alpha"}}), 2);
  EXPECT_EQ(ValueOf(t, names::kTenantRequestsWaiting, {{"tenant", "beta"}}), 4);
  EXPECT_EQ(ValueOf(t, names::kTenantRequestsFinished, {{"tenant", "beta"}}), 5);
  EXPECT_EQ(ValueOf(t, names::kTenantPromptTokens, {{"tenant", "alpha"}}), 600);
  EXPECT_EQ(ValueOf(t, names::kTenantGenerationTokens, {{"tenant", "beta"}}), 100);
  EXPECT_EQ(ValueOf(t, names::kCacheConfigInfo,
                    {{"block_size", "16"},
                     {"num_gpu_blocks", "1024"},
                     {"num_cpu_blocks", "0"},
                     {"cache_dtype", "auto"},
                     {"enable_prefix_caching", "False"}}),
            1);
  CacheConfigInfo on = TestCacheConfig();
  on.enable_prefix_caching = true;
  MetricsExporter cached(kModel, on);
  EXPECT_EQ(ValueOf(Parse(cached.Render(BusyStats(), EdgeStats{})), names::kCacheConfigInfo,
                    {{"block_size", "16"},
                     {"num_gpu_blocks", "1024"},
                     {"num_cpu_blocks", "0"},
                     {"cache_dtype", "auto"},
                     {"enable_prefix_caching", "True"}}),
            1);
}

TEST(MetricsExporterTest, CountersGrowByTheDeltaAndNeverGoDown) {
  MetricsExporter exporter(kModel, TestCacheConfig());
  SchedulerStats s = BusyStats();
  Parse(exporter.Render(s, EdgeStats{}));

  s.prompt_tokens_total += 50;
  s.num_preemptions_total += 1;
  s.requests_finished["stop"] += 3;
  s.requests_finished["abort"] = 2;
  s.tenants["alpha"].generation_tokens += 9;
  s.num_requests_running = 1;  // a gauge may fall
  PrometheusText t = Parse(exporter.Render(s, EdgeStats{}));
  EXPECT_EQ(ValueOf(t, names::kPromptTokensTotal), 1050);
  EXPECT_EQ(ValueOf(t, names::kNumPreemptionsTotal), 3);
  EXPECT_EQ(ValueOf(t, names::kRequestSuccessTotal, {{"finished_reason", "stop"}}), 10);
  EXPECT_EQ(ValueOf(t, names::kRequestSuccessTotal, {{"finished_reason", "abort"}}), 2);
  EXPECT_EQ(ValueOf(t, names::kTenantGenerationTokens, {{"tenant", "alpha"}}), 209);
  EXPECT_EQ(ValueOf(t, names::kNumRequestsRunning), 1);

  // Totals that went back (they should not) leave the counters where they were.
  SchedulerStats lower = BusyStats();
  lower.prompt_tokens_total = 10;
  lower.tenants["alpha"].generation_tokens = 0;
  t = Parse(exporter.Render(lower, EdgeStats{}));
  EXPECT_EQ(ValueOf(t, names::kPromptTokensTotal), 1050);
  EXPECT_EQ(ValueOf(t, names::kTenantGenerationTokens, {{"tenant", "alpha"}}), 209);

  // And they grow again once the totals pass what was exported.
  s.prompt_tokens_total = 2000;
  t = Parse(exporter.Render(s, EdgeStats{}));
  EXPECT_EQ(ValueOf(t, names::kPromptTokensTotal), 2000);
}

// The exported histogram equals `h`: the scheduler's bounds, cumulative counts, count and sum.
void ExpectHistogram(const PrometheusText& t, const std::string& name, const Histogram& h) {
  const std::vector<PrometheusSample> buckets = t.Find(name + "_bucket");
  ASSERT_EQ(buckets.size(), h.bounds.size() + 1) << name;
  std::map<double, double> by_le;
  for (const PrometheusSample& b : buckets) {
    const std::string& le = b.labels.at("le");
    by_le[le == "+Inf" ? INFINITY : std::stod(le)] = b.value;
  }
  int64_t cumulative = 0;
  size_t i = 0;
  double previous = 0;
  for (const auto& [le, count] : by_le) {
    cumulative += h.counts[i];
    if (i < h.bounds.size()) {
      EXPECT_DOUBLE_EQ(le, h.bounds[i]) << name;
    } else {
      EXPECT_TRUE(std::isinf(le)) << name;
    }
    EXPECT_EQ(count, cumulative) << name << " le=" << le;
    EXPECT_GE(count, previous) << name << ": buckets must be cumulative";
    previous = count;
    ++i;
  }
  EXPECT_EQ(ValueOf(t, name + "_count"), h.count) << name;
  EXPECT_NEAR(ValueOf(t, name + "_sum"), h.sum, 1e-9) << name;
}

void ExpectAllHistograms(const PrometheusText& t, const SchedulerStats& s) {
  ExpectHistogram(t, names::kTimeToFirstTokenSeconds, s.time_to_first_token_seconds);
  ExpectHistogram(t, names::kInterTokenLatencySeconds, s.inter_token_latency_seconds);
  ExpectHistogram(t, names::kE2eRequestLatencySeconds, s.e2e_request_latency_seconds);
  ExpectHistogram(t, names::kRequestQueueTimeSeconds, s.queue_time_seconds);
  ExpectHistogram(t, names::kIterationTokensTotal, s.tokens_per_step);
  ExpectHistogram(t, names::kStepTokenBudget, s.step_token_budget);
  ExpectHistogram(t, names::kStepSeconds, s.step_seconds);
  ExpectHistogram(t, names::kStepPredictedSeconds, s.step_predicted_seconds);
  ExpectHistogram(t, names::kStepPredictionRatio, s.step_prediction_ratio);
}

TEST(MetricsExporterTest, HistogramsMatchTheSchedulersAcrossRenders) {
  MetricsExporter exporter(kModel, TestCacheConfig());
  const SchedulerStats empty;
  ExpectAllHistograms(Parse(exporter.Render(empty, EdgeStats{})), empty);

  SchedulerStats s = BusyStats();
  ExpectAllHistograms(Parse(exporter.Render(s, EdgeStats{})), s);

  for (double v : {0.0005, 0.08, 200.0}) s.time_to_first_token_seconds.Observe(v);
  s.step_seconds.Observe(0.01);  // on a bound
  s.step_predicted_seconds.Observe(20);
  s.step_prediction_ratio.Observe(0.1);
  s.step_token_budget.Observe(2048);
  s.tokens_per_step.Observe(64);  // on a bound: that bucket, as in Prometheus (le)
  s.e2e_request_latency_seconds.Observe(61);
  ExpectAllHistograms(Parse(exporter.Render(s, EdgeStats{})), s);
  // Nothing new: nothing moves.
  ExpectAllHistograms(Parse(exporter.Render(s, EdgeStats{})), s);
}

TEST(MetricsExporterTest, SloAttainmentFairnessAndTheStepTimeModel) {
  MetricsExporter exporter(kModel, TestCacheConfig());
  SchedulerStats s = BusyStats();
  PrometheusText t = Parse(exporter.Render(s, EdgeStats{}));
  for (const auto& [target, met, missed] :
       {std::tuple<const char*, double, double>{"both", 2, 2}, {"ttft", 3, 1}, {"tpot", 2, 2}}) {
    const Labels l{{names::kModelNameLabel, kModel}, {"tenant", "alpha"}, {"target", target}};
    EXPECT_EQ(ValueOf(t, names::kSloAttained, l), met) << target;
    EXPECT_EQ(ValueOf(t, names::kSloMissed, l), missed) << target;
  }
  // beta had no targets: no series of its own.
  for (const PrometheusSample& sample : t.Find(names::kSloAttained)) {
    EXPECT_EQ(sample.labels.at("tenant"), "alpha");
  }
  EXPECT_EQ(t.Find(names::kSloAttained).size(), 3u);
  EXPECT_EQ(ValueOf(t, names::kTenantServiceTokens,
                    {{names::kModelNameLabel, kModel}, {"tenant", "alpha"}}),
            812.5);
  EXPECT_EQ(ValueOf(t, names::kTenantServiceTokens,
                    {{names::kModelNameLabel, kModel}, {"tenant", "beta"}}),
            400);
  EXPECT_EQ(ValueOf(t, names::kSchedulerInfo,
                    {{names::kModelNameLabel, kModel}, {"policy", "slo"}, {"fairness", "vtc"}}),
            1);
  for (const auto& [term, value] : {std::pair<const char*, double>{"constant", 0.002},
                                    {"prefill_token", 0.0015},
                                    {"decode_sequence", 0.0004},
                                    {"attended_token", 2e-6},
                                    {"adapter_row", 1e-5}}) {
    EXPECT_DOUBLE_EQ(
        ValueOf(t, names::kStepTimeCoefficient, {{names::kModelNameLabel, kModel}, {"term", term}}),
        value)
        << term;
  }

  // Counters follow the totals; the coefficients and the info series follow the latest stats.
  s.tenants["alpha"].both_targets_met = 5;
  s.tenants["alpha"].fairness_counter = 900;
  s.step_time_coefficients.constant = 0.003;
  s.step_time_margin = 0.12;
  s.scheduling_policy = "fcfs";
  s.fairness = "none";
  t = Parse(exporter.Render(s, EdgeStats{}));
  EXPECT_EQ(ValueOf(t, names::kSloAttained,
                    {{names::kModelNameLabel, kModel}, {"tenant", "alpha"}, {"target", "both"}}),
            5);
  EXPECT_DOUBLE_EQ(ValueOf(t, names::kStepTimeCoefficient,
                           {{names::kModelNameLabel, kModel}, {"term", "constant"}}),
                   0.003);
  EXPECT_DOUBLE_EQ(ValueOf(t, names::kStepTimeMargin, {{names::kModelNameLabel, kModel}}), 0.12);
  const std::vector<PrometheusSample> info = t.Find(names::kSchedulerInfo);
  ASSERT_EQ(info.size(), 1u);
  EXPECT_EQ(info[0].labels.at("policy"), "fcfs");
  EXPECT_EQ(info[0].labels.at("fairness"), "none");

  // Fairness off from the start: no fairness counters at all.
  MetricsExporter unfair(kModel, TestCacheConfig());
  t = Parse(unfair.Render(s, EdgeStats{}));
  EXPECT_TRUE(t.Find(names::kTenantServiceTokens).empty());
}

TEST(MetricsExporterTest, RejectionsMergeTheSchedulersAndTheEdges) {
  MetricsExporter exporter(kModel, TestCacheConfig());
  const SchedulerStats s = BusyStats();  // alpha: 8 received, 1 queue-full rejection
  EdgeStats edge;
  edge.tenants["alpha"].rejected["RESOURCE_EXHAUSTED"] = 2;
  edge.tenants["alpha"].rejected["INVALID_ARGUMENT"] = 3;
  edge.tenants[""].rejected["UNAUTHENTICATED"] = 4;
  edge.tenants["beta"].started = 10;
  edge.tenants["beta"].finished["OK"] = 4;
  edge.tenants["beta"].finished["CANCELLED"] = 1;
  const PrometheusText t = Parse(exporter.Render(s, edge));
  EXPECT_EQ(ValueOf(t, names::kTenantRequestsRejected,
                    {{"tenant", "alpha"}, {"reason", "RESOURCE_EXHAUSTED"}}),
            3);
  EXPECT_EQ(ValueOf(t, names::kTenantRequestsRejected,
                    {{"tenant", "alpha"}, {"reason", "INVALID_ARGUMENT"}}),
            3);
  EXPECT_EQ(
      ValueOf(t, names::kTenantRequestsRejected, {{"tenant", ""}, {"reason", "UNAUTHENTICATED"}}),
      4);
  EXPECT_TRUE(t.Find(names::kTenantRequestsRejected, {{"tenant", "beta"}}).empty());
  // Received counts each request once: the scheduler's (its rejections included) plus those the
  // edge refused before the scheduler saw them.
  EXPECT_EQ(ValueOf(t, names::kTenantRequestsReceived, {{"tenant", "alpha"}}), 8 + 2 + 3);
  EXPECT_EQ(ValueOf(t, names::kTenantRequestsReceived, {{"tenant", ""}}), 4);
  EXPECT_EQ(ValueOf(t, names::kTenantRequestsReceived, {{"tenant", "beta"}}), 10);
  EXPECT_EQ(ValueOf(t, names::kTenantStreamsStarted, {{"tenant", "beta"}}), 10);
  EXPECT_EQ(ValueOf(t, names::kTenantStreamsFinished, {{"tenant", "beta"}, {"code", "OK"}}), 4);
  EXPECT_EQ(ValueOf(t, names::kTenantStreamsFinished, {{"tenant", "beta"}, {"code", "CANCELLED"}}),
            1);
}

TEST(MetricsExporterTest, OddTenantNamesAreEscapedAndReadBack) {
  MetricsExporter exporter(kModel, TestCacheConfig());
  const std::vector<std::string> tenants = {"quo\"te", "back\\slash", "new\nline",
                                            "all\\\"\n,}{= three", "ünïcödé"};
  SchedulerStats s;
  for (const std::string& tenant : tenants) s.tenants[tenant].requests_received = 1;
  EdgeStats edge;
  edge.tenants["new\nline"].rejected["NOT_FOUND"] = 1;
  const std::string text = exporter.Render(s, edge);
  EXPECT_NE(text.find(R"(tenant="quo\"te")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(tenant="back\\slash")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(tenant="new\nline")"), std::string::npos) << text;
  const PrometheusText t = Parse(text);
  for (const std::string& tenant : tenants) {
    EXPECT_EQ(ValueOf(t, names::kTenantRequestsReceived, {{"tenant", tenant}}),
              tenant == "new\nline" ? 2 : 1)
        << tenant;
  }
}

TEST(MetricsExporterTest, TenantGaugesFallToZeroWhenTheTenantIsGone) {
  MetricsExporter exporter(kModel, TestCacheConfig());
  Parse(exporter.Render(BusyStats(), EdgeStats{}));
  SchedulerStats s = BusyStats();
  s.tenants.erase("beta");
  const PrometheusText t = Parse(exporter.Render(s, EdgeStats{}));
  EXPECT_EQ(ValueOf(t, names::kTenantRequestsRunning, {{"tenant", "beta"}}), 0);
  EXPECT_EQ(ValueOf(t, names::kTenantRequestsWaiting, {{"tenant", "beta"}}), 0);
  EXPECT_EQ(ValueOf(t, names::kTenantRequestsFinished, {{"tenant", "beta"}}), 5);
  EXPECT_EQ(ValueOf(t, names::kTenantRequestsRunning, {{"tenant", "alpha"}}), 2);
}

TEST(MetricsExporterTest, LoraInfoKeepsOneSeriesValuedWithTheTime) {
  ManualClock clock(absl::FromUnixSeconds(1700000000));
  MetricsExporter exporter(kModel, TestCacheConfig(), &clock);
  PrometheusText t = Parse(exporter.Render(SchedulerStats{}, EdgeStats{}));
  EXPECT_EQ(
      ValueOf(t, names::kLoraRequestsInfo,
              {{"running_lora_adapters", ""}, {"waiting_lora_adapters", ""}, {"max_lora", "0"}}),
      1700000000);

  clock.Advance(absl::Seconds(5));
  LoraInfo lora;
  lora.max_lora = 4;
  lora.running_adapters = {"sql", "chat"};
  lora.waiting_adapters = {"poem"};
  t = Parse(exporter.Render(SchedulerStats{}, EdgeStats{}, lora));
  ASSERT_EQ(t.Find(names::kLoraRequestsInfo).size(), 1u);
  EXPECT_EQ(ValueOf(t, names::kLoraRequestsInfo,
                    {{"running_lora_adapters", "sql,chat"},
                     {"waiting_lora_adapters", "poem"},
                     {"max_lora", "4"}}),
            1700000005);
}

TEST(MetricsExporterTest, AdapterRegistryCountsAndResidency) {
  MetricsExporter exporter(kModel, TestCacheConfig());
  LoraInfo lora;
  lora.loads = 3;
  lora.load_failures = 1;
  lora.evictions = 2;
  lora.load_attempts = 4;
  lora.load_seconds = 0.5;
  lora.resident_host = 5;
  lora.host_bytes = 1000;
  lora.host_cache_bytes = 4096;
  PrometheusText t = Parse(exporter.Render(SchedulerStats{}, EdgeStats{}, lora));
  EXPECT_EQ(ValueOf(t, names::kAdapterLoads), 3);
  EXPECT_EQ(ValueOf(t, names::kAdapterLoadFailures), 1);
  EXPECT_EQ(ValueOf(t, names::kAdapterEvictions), 2);
  EXPECT_EQ(ValueOf(t, names::kAdapterLoadAttempts), 4);
  EXPECT_DOUBLE_EQ(ValueOf(t, names::kAdapterLoadSeconds), 0.5);
  EXPECT_EQ(ValueOf(t, names::kAdaptersResident, {{"tier", "host"}}), 5);
  EXPECT_EQ(ValueOf(t, names::kAdaptersResident, {{"tier", "device"}}), 0);
  EXPECT_EQ(ValueOf(t, names::kAdapterHostBytes), 1000);
  EXPECT_EQ(ValueOf(t, names::kAdapterHostCacheBytes), 4096);
  // Cumulative counts raise the counters by their growth; gauges follow.
  lora.loads = 7;
  lora.host_bytes = 10;
  t = Parse(exporter.Render(SchedulerStats{}, EdgeStats{}, lora));
  EXPECT_EQ(ValueOf(t, names::kAdapterLoads), 7);
  EXPECT_EQ(ValueOf(t, names::kAdapterHostBytes), 10);
}

TEST(MetricsExporterTest, AdapterPagingFromTheScheduler) {
  MetricsExporter exporter(kModel, TestCacheConfig());
  SchedulerStats s;
  s.adapter_kv_blocks = 12;
  s.adapter_loads_total = 5;
  s.adapter_prefetches_total = 2;
  s.adapter_evictions_total = 3;
  PrometheusText t = Parse(exporter.Render(s, EdgeStats{}));
  EXPECT_EQ(ValueOf(t, names::kAdapterKvBlocks), 12);
  EXPECT_EQ(ValueOf(t, names::kAdapterDeviceLoads, {{"trigger", "admission"}}), 3);
  EXPECT_EQ(ValueOf(t, names::kAdapterDeviceLoads, {{"trigger", "prefetch"}}), 2);
  EXPECT_EQ(ValueOf(t, names::kAdapterDeviceEvictions), 3);
  s.adapter_kv_blocks = 0;
  s.adapter_loads_total = 6;
  t = Parse(exporter.Render(s, EdgeStats{}));
  EXPECT_EQ(ValueOf(t, names::kAdapterKvBlocks), 0);
  EXPECT_EQ(ValueOf(t, names::kAdapterDeviceLoads, {{"trigger", "admission"}}), 4);
}

TEST(MetricsExporterTest, ConcurrentRendersAgree) {
  MetricsExporter exporter(kModel, TestCacheConfig());
  const SchedulerStats s = BusyStats();
  std::vector<std::thread> threads;
  std::vector<std::string> last(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int r = 0; r < 50; ++r) last[i] = exporter.Render(s, EdgeStats{});
    });
  }
  for (std::thread& th : threads) th.join();
  for (const std::string& text : last) {
    const PrometheusText t = Parse(text);
    EXPECT_EQ(ValueOf(t, names::kPromptTokensTotal), 1000);
    ExpectAllHistograms(t, s);
  }
}

}  // namespace
}  // namespace tessera
