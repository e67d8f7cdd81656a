#include "server/metrics_exporter.h"

#include <map>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "server/metric_names.h"

namespace tessera {
namespace {

namespace names = metric_names;
using prometheus::Labels;

// The finish reasons vLLM exports from the start (FinishReasonName's values), so a rate over
// them exists before the first request of each kind.
constexpr const char* kFinishReasons[] = {"stop", "length", "abort"};

// Raises `counter` to the cumulative `total`. A total below what was exported (it never should
// be) leaves the counter alone: Prometheus counters only go up.
void RaiseTo(prometheus::Counter& counter, double total) {
  const double delta = total - counter.Value();
  if (delta > 0) counter.Increment(delta);
}

// Passes on what `now` gained over `exported`, bucket by bucket.
void Advance(prometheus::Histogram& metric, Histogram& exported, const Histogram& now) {
  // Another shape would be a programmer error; /metrics keeps serving the rest.
  if (now.bounds != exported.bounds || now.counts.size() != exported.counts.size()) return;
  std::vector<double> increments(now.counts.size(), 0);
  bool grew = false;
  for (size_t i = 0; i < now.counts.size(); ++i) {
    if (now.counts[i] > exported.counts[i]) {
      increments[i] = static_cast<double>(now.counts[i] - exported.counts[i]);
      exported.counts[i] = now.counts[i];
      grew = true;
    }
  }
  if (!grew) return;
  metric.ObserveMultiple(increments, now.sum - exported.sum);
  exported.sum = now.sum;
  exported.count = now.count;
}

}  // namespace

MetricsExporter::MetricsExporter(std::string model_name, const CacheConfigInfo& cache_config,
                                 const Clock* clock)
    : clock_(clock != nullptr ? *clock : system_clock_),
      model_name_(std::move(model_name)),
      registry_(std::make_unique<prometheus::Registry>()) {
  RegisterServerMetrics(cache_config);
  RegisterHistograms();
  RegisterTenantMetrics();
}

MetricsExporter::~MetricsExporter() = default;

prometheus::Family<prometheus::Gauge>& MetricsExporter::GaugeFamily(const char* name,
                                                                    const char* help) {
  return prometheus::BuildGauge()
      .Name(name)
      .Help(help)
      .Labels({{names::kModelNameLabel, model_name_}})
      .Register(*registry_);
}

prometheus::Family<prometheus::Counter>& MetricsExporter::CounterFamily(const char* name,
                                                                        const char* help) {
  return prometheus::BuildCounter()
      .Name(name)
      .Help(help)
      .Labels({{names::kModelNameLabel, model_name_}})
      .Register(*registry_);
}

MetricsExporter::HistogramMirror MetricsExporter::MakeHistogram(const char* name, const char* help,
                                                                const Histogram& shape) {
  HistogramMirror m{nullptr, Histogram(shape.bounds)};
  m.metric = &prometheus::BuildHistogram()
                  .Name(name)
                  .Help(help)
                  .Labels({{names::kModelNameLabel, model_name_}})
                  .Register(*registry_)
                  .Add({}, shape.bounds);
  return m;
}

void MetricsExporter::RegisterServerMetrics(const CacheConfigInfo& cache_config) {
  running_ =
      &GaugeFamily(names::kNumRequestsRunning, "Number of requests in model execution batches.")
           .Add({});
  waiting_ = &GaugeFamily(names::kNumRequestsWaiting, "Number of requests waiting to be processed.")
                  .Add({});
  kv_usage_ =
      &GaugeFamily(names::kKvCacheUsagePerc, "KV-cache usage. 1 means 100 percent usage.").Add({});
  gpu_cache_usage_ =
      &GaugeFamily(
           names::kGpuCacheUsagePerc,
           "GPU KV-cache usage. 1 means 100 percent usage. Same as vllm:kv_cache_usage_perc.")
           .Add({});
  sequences_running_ =
      &GaugeFamily(names::kSequencesRunning, "Sequences (samples) in the running batch.").Add({});
  auto& sleep_state = GaugeFamily(names::kEngineSleepState,
                                  "Sleep mode: 1 on the engine's current state (awake; "
                                  "weights_offloaded: level 1; discard_all: level 2), 0 on the "
                                  "others.");
  for (SleepLevel level :
       {SleepLevel::kAwake, SleepLevel::kOffloadWeights, SleepLevel::kDiscardWeights}) {
    sleep_state_[static_cast<int>(level)] =
        &sleep_state.Add({{names::kSleepStateLabel, std::string(SleepStateLabel(level))}});
  }
  last_wake_seconds_ =
      &GaugeFamily(names::kLastWakeSeconds, "Seconds the last wake from sleep mode took.").Add({});
  preemptions_ =
      &CounterFamily(names::kNumPreemptionsTotal, "Cumulative number of preemptions.").Add({});
  prompt_tokens_ =
      &CounterFamily(names::kPromptTokensTotal, "Number of prefill tokens processed.").Add({});
  generation_tokens_ =
      &CounterFamily(names::kGenerationTokensTotal, "Number of generation tokens processed.")
           .Add({});
  steps_ = &CounterFamily(names::kSchedulerSteps, "Scheduler steps run.").Add({});
  prefix_cache_queries_ =
      &CounterFamily(names::kPrefixCacheQueries,
                     "Prefix cache queries, in terms of number of queried tokens.")
           .Add({});
  prefix_cache_hits_ = &CounterFamily(names::kPrefixCacheHits,
                                      "Prefix cache hits, in terms of number of cached tokens.")
                            .Add({});
  request_success_ = &CounterFamily(names::kRequestSuccessTotal, "Count of finished requests.");
  for (const char* reason : kFinishReasons) {
    request_success_->Add({{names::kFinishedReasonLabel, reason}});
  }
  auto& ttft = CounterFamily(names::kTtftTarget,
                             "Finished requests with a time-to-first-token target, by outcome.");
  ttft_met_ = &ttft.Add({{names::kOutcomeLabel, names::kOutcomeMet}});
  ttft_missed_ = &ttft.Add({{names::kOutcomeLabel, names::kOutcomeMissed}});
  auto& tpot = CounterFamily(names::kTpotTarget,
                             "Finished requests with a time-per-output-token target, by outcome.");
  tpot_met_ = &tpot.Add({{names::kOutcomeLabel, names::kOutcomeMet}});
  tpot_missed_ = &tpot.Add({{names::kOutcomeLabel, names::kOutcomeMissed}});

  lora_info_ = &GaugeFamily(names::kLoraRequestsInfo, "Running stats on lora requests.");
  adapter_loads_ =
      &CounterFamily(names::kAdapterLoads, "LoRA adapters loaded (explicit, lazy, after eviction).")
           .Add({});
  adapter_load_failures_ =
      &CounterFamily(names::kAdapterLoadFailures, "LoRA adapter loads refused.").Add({});
  adapter_evictions_ =
      &CounterFamily(names::kAdapterEvictions, "LoRA adapters evicted from the host cache.")
           .Add({});
  adapter_load_seconds_ =
      &CounterFamily(names::kAdapterLoadSeconds, "Seconds spent loading LoRA adapters.").Add({});
  adapter_load_attempts_ =
      &CounterFamily(names::kAdapterLoadAttempts, "LoRA adapter loads attempted (timed).").Add({});
  auto& resident = GaugeFamily(names::kAdaptersResident, "LoRA adapters resident, by tier.");
  adapters_resident_host_ = &resident.Add({{names::kTierLabel, "host"}});
  adapters_resident_device_ = &resident.Add({{names::kTierLabel, "device"}});
  adapter_host_bytes_ =
      &GaugeFamily(names::kAdapterHostBytes, "Bytes of LoRA weights in the host cache.").Add({});
  adapter_host_cache_bytes_ =
      &GaugeFamily(names::kAdapterHostCacheBytes, "The host cache's byte budget.").Add({});
  adapter_kv_blocks_ =
      &GaugeFamily(names::kAdapterKvBlocks, "KV cache blocks holding resident LoRA adapters.")
           .Add({});
  auto& device_loads = CounterFamily(
      names::kAdapterDeviceLoads, "LoRA adapters loaded into engine slots, by what triggered it.");
  adapter_device_loads_admission_ =
      &device_loads.Add({{names::kTriggerLabel, names::kTriggerAdmission}});
  adapter_device_loads_prefetch_ =
      &device_loads.Add({{names::kTriggerLabel, names::kTriggerPrefetch}});
  adapter_device_evictions_ =
      &CounterFamily(names::kAdapterDeviceEvictions,
                     "LoRA adapters dropped from engine slots (for another adapter or KV blocks).")
           .Add({});
  GaugeFamily(names::kCacheConfigInfo, "Information of the LLMEngine CacheConfig.")
      .Add({{names::kBlockSizeLabel, absl::StrCat(cache_config.block_size)},
            {names::kNumGpuBlocksLabel, absl::StrCat(cache_config.num_gpu_blocks)},
            {names::kNumCpuBlocksLabel, absl::StrCat(cache_config.num_cpu_blocks)},
            {names::kCacheDtypeLabel, cache_config.cache_dtype},
            {names::kEnablePrefixCachingLabel,
             cache_config.enable_prefix_caching ? "True" : "False"}})
      .Set(1);
}

void MetricsExporter::SetStartupPhases(const std::vector<PhaseTimer::Phase>& phases) {
  prometheus::Family<prometheus::Gauge>& family =
      GaugeFamily(names::kStartupPhaseSeconds,
                  "Seconds each phase of the server's start took, from the process's start to "
                  "ready.");
  for (const PhaseTimer::Phase& p : phases)
    family.Add({{names::kPhaseLabel, p.name}}).Set(p.seconds);
}

void MetricsExporter::RegisterHistograms() {
  // The scheduler's default histograms carry the bounds it records with.
  const SchedulerStats shapes;
  ttft_ =
      MakeHistogram(names::kTimeToFirstTokenSeconds, "Histogram of time to first token in seconds.",
                    shapes.time_to_first_token_seconds);
  itl_ = MakeHistogram(names::kInterTokenLatencySeconds,
                       "Histogram of inter-token latency in seconds.",
                       shapes.inter_token_latency_seconds);
  e2e_ = MakeHistogram(names::kE2eRequestLatencySeconds,
                       "Histogram of e2e request latency in seconds.",
                       shapes.e2e_request_latency_seconds);
  queue_time_ = MakeHistogram(names::kRequestQueueTimeSeconds,
                              "Histogram of time spent in WAITING phase for request.",
                              shapes.queue_time_seconds);
  iteration_tokens_ =
      MakeHistogram(names::kIterationTokensTotal, "Histogram of number of tokens per engine_step.",
                    shapes.tokens_per_step);
  step_token_budget_ = MakeHistogram(names::kStepTokenBudget,
                                     "Token budget the scheduling policy chose per engine step.",
                                     shapes.step_token_budget);
  step_seconds_ = MakeHistogram(names::kStepSeconds, "Measured engine step time in seconds.",
                                shapes.step_seconds);
  step_predicted_seconds_ = MakeHistogram(
      names::kStepPredictedSeconds,
      "Engine step time in seconds as the step-time model predicted it before the step.",
      shapes.step_predicted_seconds);
  step_prediction_ratio_ = MakeHistogram(
      names::kStepPredictionRatio,
      "Measured over predicted engine step time (1: exact; above 1: the model predicted short).",
      shapes.step_prediction_ratio);
  step_time_coefficient_ =
      &GaugeFamily(names::kStepTimeCoefficient,
                   "The step-time model's seconds per unit of each term (constant: per step).");
  step_time_margin_ = &GaugeFamily(names::kStepTimeMargin,
                                   "The fraction of each step-time limit that the slo policy "
                                   "keeps in reserve for the model's usual prediction error.")
                           .Add({});
  scheduler_info_ = &GaugeFamily(names::kSchedulerInfo,
                                 "The scheduling policy and tenant fairness in use (value 1).");
}

void MetricsExporter::RegisterTenantMetrics() {
  tenant_received_ = &CounterFamily(names::kTenantRequestsReceived,
                                    "Requests received per tenant, rejected ones included.");
  tenant_rejected_ = &CounterFamily(names::kTenantRequestsRejected,
                                    "Requests refused per tenant, by gRPC status code.");
  tenant_finished_ = &CounterFamily(names::kTenantRequestsFinished,
                                    "Requests finished per tenant (any finish reason).");
  tenant_prompt_tokens_ =
      &CounterFamily(names::kTenantPromptTokens, "Prompt tokens computed per tenant.");
  tenant_generation_tokens_ =
      &CounterFamily(names::kTenantGenerationTokens, "Tokens generated per tenant.");
  tenant_running_ = &GaugeFamily(names::kTenantRequestsRunning, "Requests running per tenant.");
  tenant_waiting_ = &GaugeFamily(names::kTenantRequestsWaiting, "Requests waiting per tenant.");
  tenant_streams_started_ =
      &CounterFamily(names::kTenantStreamsStarted, "Generate streams accepted per tenant.");
  tenant_streams_finished_ = &CounterFamily(
      names::kTenantStreamsFinished, "Generate streams ended per tenant, by gRPC status code.");
  slo_attained_ = &CounterFamily(
      names::kSloAttained,
      "Finished requests per tenant that met their latency target: ttft, tpot, or both (every "
      "target the request set). Requests without the target are not counted.");
  slo_missed_ = &CounterFamily(names::kSloMissed,
                               "Finished requests per tenant that missed their latency target "
                               "(target as for tessera_slo_attained_total).");
  tenant_service_tokens_ = &GaugeFamily(
      names::kTenantServiceTokens,
      "Per tenant, the fairness counter (VTC): input and output tokens served, each times its "
      "weight and divided by the tenant's weight; raised to the least backlogged tenant's when "
      "a tenant returns from idle.");
}

std::string MetricsExporter::Render(const SchedulerStats& scheduler, const EdgeStats& edge,
                                    const LoraInfo& lora) {
  absl::MutexLock lock(&mu_);
  UpdateServer(scheduler);
  UpdateTenants(scheduler, edge);
  UpdateStreams(edge);
  UpdateLora(lora);
  UpdateScheduling(scheduler);
  UpdateTenantSlo(scheduler);
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

void MetricsExporter::UpdateServer(const SchedulerStats& s) {
  running_->Set(s.num_requests_running);
  waiting_->Set(s.num_requests_waiting);
  kv_usage_->Set(s.kv_usage);
  gpu_cache_usage_->Set(s.kv_usage);
  sequences_running_->Set(s.num_seqs_running);
  for (int level = 0; level < 3; ++level) {
    sleep_state_[level]->Set(static_cast<int>(s.sleep_level) == level ? 1 : 0);
  }
  last_wake_seconds_->Set(s.last_wake_seconds);
  RaiseTo(*preemptions_, static_cast<double>(s.num_preemptions_total));
  RaiseTo(*prompt_tokens_, static_cast<double>(s.prompt_tokens_total));
  RaiseTo(*generation_tokens_, static_cast<double>(s.generation_tokens_total));
  RaiseTo(*steps_, static_cast<double>(s.num_steps_total));
  RaiseTo(*prefix_cache_queries_, static_cast<double>(s.prefix_cache_queries_total));
  RaiseTo(*prefix_cache_hits_, static_cast<double>(s.prefix_cache_hits_total));
  adapter_kv_blocks_->Set(s.adapter_kv_blocks);
  RaiseTo(*adapter_device_loads_admission_,
          static_cast<double>(s.adapter_loads_total - s.adapter_prefetches_total));
  RaiseTo(*adapter_device_loads_prefetch_, static_cast<double>(s.adapter_prefetches_total));
  RaiseTo(*adapter_device_evictions_, static_cast<double>(s.adapter_evictions_total));
  for (const auto& [reason, n] : s.requests_finished) {
    RaiseTo(request_success_->Add({{names::kFinishedReasonLabel, reason}}), static_cast<double>(n));
  }
  RaiseTo(*ttft_met_, static_cast<double>(s.ttft_target_met));
  RaiseTo(*ttft_missed_, static_cast<double>(s.ttft_target_missed));
  RaiseTo(*tpot_met_, static_cast<double>(s.tpot_target_met));
  RaiseTo(*tpot_missed_, static_cast<double>(s.tpot_target_missed));
  Advance(*ttft_.metric, ttft_.exported, s.time_to_first_token_seconds);
  Advance(*itl_.metric, itl_.exported, s.inter_token_latency_seconds);
  Advance(*e2e_.metric, e2e_.exported, s.e2e_request_latency_seconds);
  Advance(*queue_time_.metric, queue_time_.exported, s.queue_time_seconds);
  Advance(*iteration_tokens_.metric, iteration_tokens_.exported, s.tokens_per_step);
}

void MetricsExporter::UpdateTenants(const SchedulerStats& s, const EdgeStats& edge) {
  // Received and rejected merge both sources: the scheduler counts its queue-full refusals
  // (RESOURCE_EXHAUSTED), the edge those it answered before the scheduler saw the request.
  std::map<std::string, int64_t> received;
  std::map<std::pair<std::string, std::string>, int64_t> rejected;
  const std::string queue_full = StatusCodeName(absl::StatusCode::kResourceExhausted);
  for (const auto& [tenant, t] : s.tenants) {
    received[tenant] += t.requests_received;
    if (t.requests_rejected > 0) rejected[{tenant, queue_full}] += t.requests_rejected;
  }
  for (const auto& [tenant, e] : edge.tenants) {
    for (const auto& [reason, n] : e.rejected) {
      received[tenant] += n;
      rejected[{tenant, reason}] += n;
    }
  }
  for (const auto& [tenant, n] : received) {
    RaiseTo(tenant_received_->Add({{names::kTenantLabel, tenant}}), static_cast<double>(n));
  }
  for (const auto& [key, n] : rejected) {
    RaiseTo(tenant_rejected_->Add(
                {{names::kTenantLabel, key.first}, {names::kReasonLabel, key.second}}),
            static_cast<double>(n));
  }

  std::set<std::string> idle = gauge_tenants_;
  for (const auto& [tenant, t] : s.tenants) {
    const Labels l{{names::kTenantLabel, tenant}};
    RaiseTo(tenant_finished_->Add(l), static_cast<double>(t.requests_finished));
    RaiseTo(tenant_prompt_tokens_->Add(l), static_cast<double>(t.prompt_tokens));
    RaiseTo(tenant_generation_tokens_->Add(l), static_cast<double>(t.generation_tokens));
    tenant_running_->Add(l).Set(t.running);
    tenant_waiting_->Add(l).Set(t.waiting);
    gauge_tenants_.insert(tenant);
    idle.erase(tenant);
  }
  // A tenant the scheduler no longer lists has nothing in flight.
  for (const std::string& tenant : idle) {
    const Labels l{{names::kTenantLabel, tenant}};
    tenant_running_->Add(l).Set(0);
    tenant_waiting_->Add(l).Set(0);
  }
}

void MetricsExporter::UpdateStreams(const EdgeStats& edge) {
  for (const auto& [tenant, e] : edge.tenants) {
    if (e.started > 0) {
      RaiseTo(tenant_streams_started_->Add({{names::kTenantLabel, tenant}}),
              static_cast<double>(e.started));
    }
    for (const auto& [code, n] : e.finished) {
      RaiseTo(
          tenant_streams_finished_->Add({{names::kTenantLabel, tenant}, {names::kCodeLabel, code}}),
          static_cast<double>(n));
    }
  }
}

void MetricsExporter::UpdateScheduling(const SchedulerStats& s) {
  Advance(*step_token_budget_.metric, step_token_budget_.exported, s.step_token_budget);
  Advance(*step_seconds_.metric, step_seconds_.exported, s.step_seconds);
  Advance(*step_predicted_seconds_.metric, step_predicted_seconds_.exported,
          s.step_predicted_seconds);
  Advance(*step_prediction_ratio_.metric, step_prediction_ratio_.exported, s.step_prediction_ratio);
  const StepTimeCoefficients& c = s.step_time_coefficients;
  for (const auto& [term, value] : {std::pair<const char*, double>{"constant", c.constant},
                                    {"prefill_token", c.per_prefill_token},
                                    {"decode_sequence", c.per_decode_sequence},
                                    {"attended_token", c.per_attended_token},
                                    {"adapter_row", c.per_adapter_row}}) {
    step_time_coefficient_->Add({{names::kTermLabel, term}}).Set(value);
  }
  step_time_margin_->Set(s.step_time_margin);
  if (s.scheduling_policy.empty()) return;  // stats not from a scheduler
  prometheus::Gauge& series = scheduler_info_->Add(
      {{names::kPolicyLabel, s.scheduling_policy}, {names::kFairnessLabel, s.fairness}});
  if (scheduler_info_series_ != nullptr && scheduler_info_series_ != &series) {
    scheduler_info_->Remove(scheduler_info_series_);
  }
  scheduler_info_series_ = &series;
  series.Set(1);
}

void MetricsExporter::UpdateTenantSlo(const SchedulerStats& s) {
  const bool fair = s.fairness == "vtc";
  for (const auto& [tenant, t] : s.tenants) {
    // Series only for targets some request had: a tenant without targets shows none.
    for (const auto& [target, met, missed] :
         {std::tuple<const char*, int64_t, int64_t>{names::kTargetBoth, t.both_targets_met,
                                                    t.both_targets_missed},
          {names::kTargetTtft, t.ttft_target_met, t.ttft_target_missed},
          {names::kTargetTpot, t.tpot_target_met, t.tpot_target_missed}}) {
      if (met + missed == 0) continue;
      const Labels l{{names::kTenantLabel, tenant}, {names::kTargetLabel, target}};
      RaiseTo(slo_attained_->Add(l), static_cast<double>(met));
      RaiseTo(slo_missed_->Add(l), static_cast<double>(missed));
    }
    if (fair) tenant_service_tokens_->Add({{names::kTenantLabel, tenant}}).Set(t.fairness_counter);
  }
}

void MetricsExporter::UpdateLora(const LoraInfo& lora) {
  RaiseTo(*adapter_loads_, static_cast<double>(lora.loads));
  RaiseTo(*adapter_load_failures_, static_cast<double>(lora.load_failures));
  RaiseTo(*adapter_evictions_, static_cast<double>(lora.evictions));
  RaiseTo(*adapter_load_seconds_, lora.load_seconds);
  RaiseTo(*adapter_load_attempts_, static_cast<double>(lora.load_attempts));
  adapters_resident_host_->Set(lora.resident_host);
  adapters_resident_device_->Set(lora.resident_device);
  adapter_host_bytes_->Set(static_cast<double>(lora.host_bytes));
  adapter_host_cache_bytes_->Set(static_cast<double>(lora.host_cache_bytes));
  // Like vLLM: one series whose labels name the adapters and whose value is the time of the
  // update, so a reader picks the newest. Unlike vLLM the previous label set is dropped.
  prometheus::Gauge& series = lora_info_->Add(
      {{names::kRunningLoraAdaptersLabel, absl::StrJoin(lora.running_adapters, ",")},
       {names::kWaitingLoraAdaptersLabel, absl::StrJoin(lora.waiting_adapters, ",")},
       {names::kMaxLoraLabel, absl::StrCat(lora.max_lora)}});
  if (lora_series_ != nullptr && lora_series_ != &series) lora_info_->Remove(lora_series_);
  lora_series_ = &series;
  series.Set(absl::ToDoubleSeconds(clock_.Now() - absl::UnixEpoch()));
}

}  // namespace tessera
