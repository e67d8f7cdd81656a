// The serving scheduler's settings (tesserad's scheduler flags), shared by SchedulerCore, its
// parts (capacity, policies, validation) and the offline runner. Plain data.
#ifndef TESSERA_SCHEDULER_SCHEDULER_OPTIONS_H_
#define TESSERA_SCHEDULER_SCHEDULER_OPTIONS_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/time/time.h"
#include "scheduler/step_time_model.h"

namespace tessera {

// --scheduling-policy: what orders waiting requests, sizes a step's token budget and picks the
// sequences to preempt (scheduling_policy.h).
//   kFcfs:     first come first served over all requests (per tenant, the tenants taking turns,
//              under kVtc fairness), chunked prefill under the fixed max_num_batched_tokens
//              budget (vLLM's default, with kNone);
//   kPriority: interactive before batch, first come first served within each, batch requests
//              aged into the interactive class after batch_max_wait.
//   kSlo:      latency targets: budgets that keep the tightest TPOT target, earliest TTFT
//              deadline first, requests that cannot meet theirs after those that can
//              (slo_policy.h).
enum class SchedulingPolicyKind : uint8_t { kFcfs, kPriority, kSlo };

// --fairness: how every policy shares the server between tenants.
//   kVtc:  the Virtual Token Counter (vtc_fairness.h): the backlogged tenant with the least
//          weighted service is admitted next (within a priority class where the policy has
//          classes; first come first served within a tenant under fcfs and priority).
//   kNone: tenants are not told apart.
enum class FairnessKind : uint8_t { kVtc, kNone };

// --prefix-cache-scope: whose cached KV blocks a request may reuse.
//   kTenant: only its own tenant's (a shared cache would let a tenant time whether another's
//            prompt is cached);
//   kGlobal: every tenant's (a single-tenant or trusted deployment).
enum class PrefixCacheScope : uint8_t { kTenant, kGlobal };

struct SchedulerOptions {
  int32_t max_num_batched_tokens = 2048;  // tokens fed per step, all sequences together
  int32_t max_num_seqs = 256;             // sequences per step
  // Bounded waiting queue: requests not yet started beyond these are refused at once
  // (ResourceExhausted).
  int32_t max_waiting_requests = 1024;
  int64_t max_waiting_prompt_tokens = int64_t{1} << 21;
  // --sleep-queue-timeout: how long a request that arrives while the engine sleeps waits for a
  // wake before it fails UNAVAILABLE; zero: it fails at once.
  absl::Duration asleep_queue_timeout = absl::ZeroDuration();
  // The library's default is today's priority policy; tesserad's --scheduling-policy is slo.
  SchedulingPolicyKind scheduling_policy = SchedulingPolicyKind::kPriority;
  FairnessKind fairness = FairnessKind::kVtc;
  // Tenants' shares under fairness (absent: 1).
  std::map<std::string, double> tenant_weights;
  // kSlo: the TTFT deadline of a request without a target, from its arrival (so that best-effort
  // requests are ordered among the others and never starve).
  absl::Duration best_effort_ttft = absl::Seconds(30);
  // The step-time model before any step is measured (a profiling pass or a cost model); zero:
  // the first steps get the whole max_num_batched_tokens until measurements arrive.
  StepTimeCoefficients step_time_prior;
  // kPriority: a waiting batch request older than this is admitted before interactive ones.
  absl::Duration batch_max_wait = absl::Seconds(10);
  int32_t max_stop_strings = 16;
  int32_t max_stop_string_bytes = 256;
  int32_t max_n = 64;
  // Waiting requests' adapters (distinct, in queue order) that a step considers loading ahead of
  // their admission; 0: no prefetch.
  int32_t adapter_prefetch_depth = 4;
  // --max-model-len: prompt + max_tokens beyond it are refused; 0: the model's context. (The
  // engine is capped to it too, so that it sizes the KV cache for it.)
  int64_t max_model_len = 0;
  // --enable-prefix-caching: full blocks of computed tokens stay cached, keyed by their content,
  // adapter and scope (block_hash.h), and a request's leading cached blocks are reused, not
  // recomputed.
  bool enable_prefix_caching = true;
  PrefixCacheScope prefix_cache_scope = PrefixCacheScope::kTenant;
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_SCHEDULER_OPTIONS_H_
