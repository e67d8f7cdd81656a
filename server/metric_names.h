// Every metric and label name tesserad exports, in one place. The `vllm:` names and labels are
// vLLM's, spelled exactly as vLLM's /metrics writes them (counters already end in `_total`), so
// Kubernetes autoscalers, the Gateway API inference extension and dashboards built for vLLM read
// tessera unchanged. The `tessera_` names are tessera's own (per tenant, targets, the edge).
#ifndef TESSERA_SERVER_METRIC_NAMES_H_
#define TESSERA_SERVER_METRIC_NAMES_H_

namespace tessera::metric_names {

// vLLM-compatible gauges.
inline constexpr char kNumRequestsRunning[] = "vllm:num_requests_running";
inline constexpr char kNumRequestsWaiting[] = "vllm:num_requests_waiting";
inline constexpr char kKvCacheUsagePerc[] = "vllm:kv_cache_usage_perc";
inline constexpr char kGpuCacheUsagePerc[] = "vllm:gpu_cache_usage_perc";  // older name, same value
inline constexpr char kLoraRequestsInfo[] = "vllm:lora_requests_info";
// The adapter registry: loads, failures, evictions from the host cache, load time, residency.
inline constexpr char kAdapterLoads[] = "tessera_adapter_loads_total";
inline constexpr char kAdapterLoadFailures[] = "tessera_adapter_load_failures_total";
inline constexpr char kAdapterEvictions[] = "tessera_adapter_evictions_total";
inline constexpr char kAdapterLoadSeconds[] = "tessera_adapter_load_seconds_total";
inline constexpr char kAdapterLoadAttempts[] = "tessera_adapter_load_attempts_total";
inline constexpr char kAdaptersResident[] = "tessera_adapters_resident";
inline constexpr char kAdapterHostBytes[] = "tessera_adapter_host_bytes";
inline constexpr char kAdapterHostCacheBytes[] = "tessera_adapter_host_cache_bytes";
inline constexpr char kTierLabel[] = "tier";
// The scheduler's side: adapters in engine slots, stored in KV blocks (unified paging); loads by
// trigger (a request's admission, or a prefetch ahead of it), evictions from the engine.
inline constexpr char kAdapterKvBlocks[] = "tessera_adapter_kv_blocks";
inline constexpr char kAdapterDeviceLoads[] = "tessera_adapter_device_loads_total";
inline constexpr char kAdapterDeviceEvictions[] = "tessera_adapter_device_evictions_total";
inline constexpr char kTriggerLabel[] = "trigger";
inline constexpr char kTriggerAdmission[] = "admission";
inline constexpr char kTriggerPrefetch[] = "prefetch";
inline constexpr char kCacheConfigInfo[] = "vllm:cache_config_info";
// Seconds each phase of the start took (engine/phase_timer.h's names), set once when ready.
inline constexpr char kStartupPhaseSeconds[] = "tessera_startup_phase_seconds";
inline constexpr char kPhaseLabel[] = "phase";
// Sleep mode: vLLM's gauge, one series per sleep_state ("awake" | "weights_offloaded" |
// "discard_all"), 1 for the current state; and the time the last wake took (tessera's own).
inline constexpr char kEngineSleepState[] = "vllm:engine_sleep_state";
inline constexpr char kSleepStateLabel[] = "sleep_state";
inline constexpr char kLastWakeSeconds[] = "tessera_last_wake_seconds";

// vLLM-compatible counters.
inline constexpr char kNumPreemptionsTotal[] = "vllm:num_preemptions_total";
inline constexpr char kPromptTokensTotal[] = "vllm:prompt_tokens_total";
inline constexpr char kGenerationTokensTotal[] = "vllm:generation_tokens_total";
inline constexpr char kRequestSuccessTotal[] = "vllm:request_success_total";
// Prefix cache, in tokens: looked up at admission, and found cached (vLLM's counters
// vllm:prefix_cache_queries and vllm:prefix_cache_hits, as its /metrics writes them).
inline constexpr char kPrefixCacheQueries[] = "vllm:prefix_cache_queries_total";
inline constexpr char kPrefixCacheHits[] = "vllm:prefix_cache_hits_total";

// vLLM-compatible histograms.
inline constexpr char kTimeToFirstTokenSeconds[] = "vllm:time_to_first_token_seconds";
inline constexpr char kInterTokenLatencySeconds[] = "vllm:inter_token_latency_seconds";
inline constexpr char kE2eRequestLatencySeconds[] = "vllm:e2e_request_latency_seconds";
inline constexpr char kRequestQueueTimeSeconds[] = "vllm:request_queue_time_seconds";
inline constexpr char kIterationTokensTotal[] = "vllm:iteration_tokens_total";

// tessera's own, per tenant.
inline constexpr char kTenantRequestsReceived[] = "tessera_requests_received_total";
inline constexpr char kTenantRequestsRejected[] = "tessera_requests_rejected_total";
inline constexpr char kTenantRequestsFinished[] = "tessera_requests_finished_total";
inline constexpr char kTenantPromptTokens[] = "tessera_prompt_tokens_total";
inline constexpr char kTenantGenerationTokens[] = "tessera_generation_tokens_total";
inline constexpr char kTenantRequestsRunning[] = "tessera_requests_running";
inline constexpr char kTenantRequestsWaiting[] = "tessera_requests_waiting";
inline constexpr char kTenantStreamsStarted[] = "tessera_streams_started_total";
inline constexpr char kTenantStreamsFinished[] = "tessera_streams_finished_total";
// Finished requests that met (attained) or missed their latency targets, by target.
inline constexpr char kSloAttained[] = "tessera_slo_attained_total";
inline constexpr char kSloMissed[] = "tessera_slo_missed_total";
// The VTC fairness counter (weighted service, lifts from idle included); with --fairness vtc.
inline constexpr char kTenantServiceTokens[] = "tessera_tenant_service_tokens";

// tessera's own, whole server.
inline constexpr char kTtftTarget[] = "tessera_ttft_target_total";
inline constexpr char kTpotTarget[] = "tessera_tpot_target_total";
inline constexpr char kSchedulerSteps[] = "tessera_scheduler_steps_total";
inline constexpr char kSequencesRunning[] = "tessera_sequences_running";
// The scheduler's policy (an info metric: value 1, labels policy and fairness), the token budget
// it chose per step, and the step-time model: measured and predicted step seconds, their ratio
// (measured / predicted), and the model's coefficients by term.
inline constexpr char kSchedulerInfo[] = "tessera_scheduler_info";
inline constexpr char kStepTokenBudget[] = "tessera_step_token_budget";
inline constexpr char kStepSeconds[] = "tessera_step_seconds";
inline constexpr char kStepPredictedSeconds[] = "tessera_step_predicted_seconds";
inline constexpr char kStepPredictionRatio[] = "tessera_step_prediction_ratio";
inline constexpr char kStepTimeCoefficient[] = "tessera_step_time_coefficient_seconds";
// The fraction of each time limit the slo policy keeps for the model's usual error.
inline constexpr char kStepTimeMargin[] = "tessera_step_time_margin";

// Label names.
inline constexpr char kModelNameLabel[] = "model_name";
inline constexpr char kFinishedReasonLabel[] = "finished_reason";
inline constexpr char kRunningLoraAdaptersLabel[] = "running_lora_adapters";
inline constexpr char kWaitingLoraAdaptersLabel[] = "waiting_lora_adapters";
inline constexpr char kMaxLoraLabel[] = "max_lora";
inline constexpr char kTenantLabel[] = "tenant";
inline constexpr char kReasonLabel[] = "reason";  // a gRPC status code name
inline constexpr char kCodeLabel[] = "code";      // a gRPC status code name
inline constexpr char kOutcomeLabel[] = "outcome";
inline constexpr char kTargetLabel[] = "target";  // both | ttft | tpot
inline constexpr char kPolicyLabel[] = "policy";
inline constexpr char kFairnessLabel[] = "fairness";
inline constexpr char kTermLabel[] = "term";  // a step-time model coefficient's term
// vllm:cache_config_info's labels (vLLM's CacheConfig field names).
inline constexpr char kBlockSizeLabel[] = "block_size";
inline constexpr char kNumGpuBlocksLabel[] = "num_gpu_blocks";
inline constexpr char kNumCpuBlocksLabel[] = "num_cpu_blocks";
inline constexpr char kCacheDtypeLabel[] = "cache_dtype";
inline constexpr char kEnablePrefixCachingLabel[] = "enable_prefix_caching";

// Label values.
inline constexpr char kOutcomeMet[] = "met";
inline constexpr char kOutcomeMissed[] = "missed";
inline constexpr char kTargetBoth[] = "both";
inline constexpr char kTargetTtft[] = "ttft";
inline constexpr char kTargetTpot[] = "tpot";

}  // namespace tessera::metric_names

#endif  // TESSERA_SERVER_METRIC_NAMES_H_
