// Turns the scheduler's and the edge's plain counts into Prometheus text (format 0.0.4): the
// vLLM-compatible `vllm:` metrics, each labelled model_name, and tessera's per-tenant `tessera_`
// metrics (names in server/metric_names.h).
//
// The inputs are cumulative totals; the exporter owns a prometheus::Registry and on each Render
// raises every counter and histogram by what the totals grew since the last one (never lowering
// them), and sets the gauges. Histogram buckets are the scheduler's (vLLM's bounds).
//
// Thread-safe: Render may be called from several HTTP threads at once (it serialises).
#ifndef TESSERA_SERVER_METRICS_EXPORTER_H_
#define TESSERA_SERVER_METRICS_EXPORTER_H_

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "engine/phase_timer.h"
#include "scheduler/clock.h"
#include "scheduler/scheduler_stats.h"
#include "server/edge_counters.h"

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
class Registry;
}  // namespace prometheus

namespace tessera {

// The KV cache's shape, fixed at start-up; exported as vllm:cache_config_info labels.
struct CacheConfigInfo {
  int32_t block_size = 0;
  int32_t num_gpu_blocks = 0;
  int32_t num_cpu_blocks = 0;
  std::string cache_dtype = "auto";
  bool enable_prefix_caching = false;
};

// The LoRA adapters in use, for vllm:lora_requests_info. Empty until LoRA serving lands.
struct LoraInfo {
  int32_t max_lora = 0;
  std::vector<std::string> running_adapters;
  std::vector<std::string> waiting_adapters;
  // The adapter registry's cumulative counts and residency (tessera_adapter_*).
  int64_t loads = 0;
  int64_t load_failures = 0;
  int64_t evictions = 0;
  int64_t load_attempts = 0;
  double load_seconds = 0;
  int32_t resident_host = 0;
  int32_t resident_device = 0;
  int64_t host_bytes = 0;
  int64_t host_cache_bytes = 0;
};

class MetricsExporter {
 public:
  // `clock` (the time vllm:lora_requests_info reports) may be null: the system clock.
  MetricsExporter(std::string model_name, const CacheConfigInfo& cache_config,
                  const Clock* clock = nullptr);
  ~MetricsExporter();
  MetricsExporter(const MetricsExporter&) = delete;
  MetricsExporter& operator=(const MetricsExporter&) = delete;

  // tessera_startup_phase_seconds{phase}: where the start's time went. Called once, when ready.
  void SetStartupPhases(const std::vector<PhaseTimer::Phase>& phases);

  // Brings the registry up to `scheduler`, `edge` and `lora` and returns the Prometheus text.
  std::string Render(const SchedulerStats& scheduler, const EdgeStats& edge,
                     const LoraInfo& lora = {});

 private:
  // A prometheus histogram fed from a cumulative tessera Histogram.
  struct HistogramMirror {
    prometheus::Histogram* metric = nullptr;
    Histogram exported;  // the totals already passed on
  };

  void RegisterServerMetrics(const CacheConfigInfo& cache_config);
  void RegisterHistograms();
  void RegisterTenantMetrics();
  // A family labelled model_name.
  prometheus::Family<prometheus::Gauge>& GaugeFamily(const char* name, const char* help);
  prometheus::Family<prometheus::Counter>& CounterFamily(const char* name, const char* help);
  void UpdateServer(const SchedulerStats& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateTenants(const SchedulerStats& s, const EdgeStats& edge)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateStreams(const EdgeStats& edge) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateLora(const LoraInfo& lora) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The policy, budgets and step-time model; per tenant the targets and fairness counters.
  void UpdateScheduling(const SchedulerStats& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateTenantSlo(const SchedulerStats& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  HistogramMirror MakeHistogram(const char* name, const char* help, const Histogram& shape);

  SystemClock system_clock_;
  const Clock& clock_;
  const std::string model_name_;
  absl::Mutex mu_;
  std::unique_ptr<prometheus::Registry> registry_;  // the families below live in it

  // Set by the constructor only; prometheus metrics and families are thread-safe themselves.
  prometheus::Gauge* running_ = nullptr;
  prometheus::Gauge* waiting_ = nullptr;
  prometheus::Gauge* kv_usage_ = nullptr;
  prometheus::Gauge* gpu_cache_usage_ = nullptr;
  prometheus::Gauge* sequences_running_ = nullptr;
  // vllm:engine_sleep_state, indexed by SleepLevel (awake, weights_offloaded, discard_all).
  prometheus::Gauge* sleep_state_[3] = {nullptr, nullptr, nullptr};
  prometheus::Gauge* last_wake_seconds_ = nullptr;
  prometheus::Counter* preemptions_ = nullptr;
  prometheus::Counter* prompt_tokens_ = nullptr;
  prometheus::Counter* generation_tokens_ = nullptr;
  prometheus::Counter* steps_ = nullptr;
  prometheus::Counter* prefix_cache_queries_ = nullptr;
  prometheus::Counter* prefix_cache_hits_ = nullptr;
  prometheus::Counter* ttft_met_ = nullptr;
  prometheus::Counter* ttft_missed_ = nullptr;
  prometheus::Counter* tpot_met_ = nullptr;
  prometheus::Counter* tpot_missed_ = nullptr;
  prometheus::Family<prometheus::Counter>* request_success_ = nullptr;
  HistogramMirror ttft_ ABSL_GUARDED_BY(mu_);
  HistogramMirror itl_ ABSL_GUARDED_BY(mu_);
  HistogramMirror e2e_ ABSL_GUARDED_BY(mu_);
  HistogramMirror queue_time_ ABSL_GUARDED_BY(mu_);
  HistogramMirror iteration_tokens_ ABSL_GUARDED_BY(mu_);
  HistogramMirror step_token_budget_ ABSL_GUARDED_BY(mu_);
  HistogramMirror step_seconds_ ABSL_GUARDED_BY(mu_);
  HistogramMirror step_predicted_seconds_ ABSL_GUARDED_BY(mu_);
  HistogramMirror step_prediction_ratio_ ABSL_GUARDED_BY(mu_);
  prometheus::Family<prometheus::Gauge>* step_time_coefficient_ = nullptr;
  prometheus::Gauge* step_time_margin_ = nullptr;
  prometheus::Family<prometheus::Gauge>* scheduler_info_ = nullptr;
  prometheus::Gauge* scheduler_info_series_ ABSL_GUARDED_BY(mu_) = nullptr;

  prometheus::Family<prometheus::Gauge>* lora_info_ = nullptr;
  prometheus::Gauge* lora_series_ ABSL_GUARDED_BY(mu_) = nullptr;  // the current label set's
  prometheus::Counter* adapter_loads_ = nullptr;
  prometheus::Counter* adapter_load_failures_ = nullptr;
  prometheus::Counter* adapter_evictions_ = nullptr;
  prometheus::Counter* adapter_load_seconds_ = nullptr;
  prometheus::Counter* adapter_load_attempts_ = nullptr;
  prometheus::Gauge* adapters_resident_host_ = nullptr;
  prometheus::Gauge* adapters_resident_device_ = nullptr;
  prometheus::Gauge* adapter_host_bytes_ = nullptr;
  prometheus::Gauge* adapter_host_cache_bytes_ = nullptr;
  prometheus::Gauge* adapter_kv_blocks_ = nullptr;
  prometheus::Counter* adapter_device_loads_admission_ = nullptr;
  prometheus::Counter* adapter_device_loads_prefetch_ = nullptr;
  prometheus::Counter* adapter_device_evictions_ = nullptr;

  prometheus::Family<prometheus::Counter>* tenant_received_ = nullptr;
  prometheus::Family<prometheus::Counter>* tenant_rejected_ = nullptr;
  prometheus::Family<prometheus::Counter>* tenant_finished_ = nullptr;
  prometheus::Family<prometheus::Counter>* tenant_prompt_tokens_ = nullptr;
  prometheus::Family<prometheus::Counter>* tenant_generation_tokens_ = nullptr;
  prometheus::Family<prometheus::Gauge>* tenant_running_ = nullptr;
  prometheus::Family<prometheus::Gauge>* tenant_waiting_ = nullptr;
  prometheus::Family<prometheus::Counter>* tenant_streams_started_ = nullptr;
  prometheus::Family<prometheus::Counter>* tenant_streams_finished_ = nullptr;
  prometheus::Family<prometheus::Counter>* slo_attained_ = nullptr;
  prometheus::Family<prometheus::Counter>* slo_missed_ = nullptr;
  prometheus::Family<prometheus::Gauge>* tenant_service_tokens_ = nullptr;
  std::set<std::string> gauge_tenants_ ABSL_GUARDED_BY(mu_);  // tenants with gauge series
};

}  // namespace tessera

#endif  // TESSERA_SERVER_METRICS_EXPORTER_H_
