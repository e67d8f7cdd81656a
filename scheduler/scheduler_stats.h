// The scheduler's observable state as plain data, for the server to export (Prometheus) and for
// tests. A copy is taken after each step.
#ifndef TESSERA_SCHEDULER_SCHEDULER_STATS_H_
#define TESSERA_SCHEDULER_SCHEDULER_STATS_H_

#include <cstdint>
#include <map>
#include <string>

#include "engine/sleep_level.h"
#include "scheduler/histogram.h"
#include "scheduler/step_time_model.h"

namespace tessera {

struct TenantStats {
  int32_t running = 0;  // requests with a sequence running
  int32_t waiting = 0;  // requests with none running
  int64_t requests_received = 0;
  int64_t requests_rejected = 0;  // queue full
  int64_t requests_finished = 0;  // any reason
  int64_t prompt_tokens = 0;      // computed (recomputation after preemption not counted)
  int64_t generation_tokens = 0;
  // Finished requests against their latency targets: ttft and tpot count the requests with that
  // target (tpot: those that produced a first token); both counts those with either, met when
  // every target the request has was met (an absent one is no miss, as bench-serve counts).
  int64_t ttft_target_met = 0, ttft_target_missed = 0;
  int64_t tpot_target_met = 0, tpot_target_missed = 0;
  int64_t both_targets_met = 0, both_targets_missed = 0;
  // Fairness on: the VTC counter (vtc_fairness.h): weighted service, lifts from idle included.
  double fairness_counter = 0;
};

// Requests in flight that use one LoRA adapter.
struct AdapterUse {
  int32_t running = 0;
  int32_t waiting = 0;
};

struct SchedulerStats {
  int32_t num_requests_running = 0;
  int32_t num_requests_waiting = 0;
  int32_t num_seqs_running = 0;
  double kv_usage = 0;  // fraction of KV blocks in use, 0..1
  int32_t num_kv_blocks = 0;
  int32_t block_size = 0;
  int64_t num_preemptions_total = 0;
  int64_t num_steps_total = 0;
  int64_t prompt_tokens_total = 0;
  int64_t generation_tokens_total = 0;
  int32_t last_step_tokens = 0;
  int32_t last_step_seqs = 0;
  std::map<std::string, int64_t> requests_finished;  // by finish reason name
  int64_t requests_rejected_total = 0;
  int64_t ttft_target_met = 0, ttft_target_missed = 0;
  int64_t tpot_target_met = 0, tpot_target_missed = 0;
  Histogram tokens_per_step{TokensPerStepBuckets()};
  Histogram queue_time_seconds{RequestLatencyBuckets()};
  Histogram time_to_first_token_seconds{TimeToFirstTokenBuckets()};
  Histogram inter_token_latency_seconds{InterTokenLatencyBuckets()};
  Histogram e2e_request_latency_seconds{RequestLatencyBuckets()};
  std::map<std::string, TenantStats> tenants;
  int32_t max_loras = 0;                       // the engine's adapter slots
  std::map<std::string, AdapterUse> adapters;  // by adapter name
  // Unified paging: KV blocks holding resident adapters' weights (counted in kv_usage too), and
  // the adapters put into engine slots (prefetches included), loaded ahead of their request's
  // admission, and dropped from the engine for another adapter or for KV blocks.
  int32_t adapter_kv_blocks = 0;
  int64_t adapter_loads_total = 0;
  int64_t adapter_prefetches_total = 0;
  int64_t adapter_evictions_total = 0;
  // How the scheduler decides (--scheduling-policy, --fairness), fixed at construction.
  std::string scheduling_policy;
  std::string fairness;
  // The step-time model: its coefficients now, and per step that ran the measured and predicted
  // seconds (the prediction made before the step, by the model as it was), their ratio
  // (measured / predicted; steps predicted at 0 s are left out), and the token budget the
  // policy chose.
  StepTimeCoefficients step_time_coefficients;
  double step_time_margin = 0;  // StepTimeModel::error().Margin(): kept from each time limit
  Histogram step_seconds{StepSecondsBuckets()};
  Histogram step_predicted_seconds{StepSecondsBuckets()};
  Histogram step_prediction_ratio{PredictionRatioBuckets()};
  Histogram step_token_budget{TokensPerStepBuckets()};
  // Prefix cache (vLLM's names): tokens looked up and found cached, counted each time a sequence
  // is admitted (after a preemption too).
  bool enable_prefix_caching = false;
  int64_t prefix_cache_queries_total = 0;
  int64_t prefix_cache_hits_total = 0;
  // Sleep mode: the engine's state (vllm:engine_sleep_state) and the time the last wake took.
  SleepLevel sleep_level = SleepLevel::kAwake;
  double last_wake_seconds = 0;
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_SCHEDULER_STATS_H_
