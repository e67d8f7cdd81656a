// Runs a fixed set of generation requests to completion with continuous batching: the minimal
// scheduler of the offline runner (`tessera generate`). The serving scheduler replaces it.
//
// Each step: running decodes first (one token each), then prefill chunks (running prefills, then
// newly admitted requests, first come first served) up to the token budget, so a long prompt never
// stalls the decodes. A request is admitted only when the KV blocks for its whole prompt plus
// max_tokens can be reserved, so nothing is ever preempted and the loop cannot deadlock; a request
// that could never fit fails at once with a clear error while the others run.
//
// Not thread-safe: Run() drives the engine on the calling thread.
#ifndef TESSERA_SCHEDULER_OFFLINE_SCHEDULER_H_
#define TESSERA_SCHEDULER_OFFLINE_SCHEDULER_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "scheduler/request.h"

namespace tessera {

struct OfflineSchedulerOptions {
  int32_t max_num_batched_tokens = 2048;  // tokens fed per step, all sequences together
  int32_t max_num_seqs = 256;             // sequences per step
};

struct OfflineRunStats {
  int64_t steps = 0;
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  int32_t max_running = 0;
};

class OfflineScheduler {
 public:
  OfflineScheduler(Engine& engine, OfflineSchedulerOptions options);

  // Checks a request against the model and the cache before anything runs: non-empty prompt,
  // token ids in the vocabulary, max_tokens >= 1, prompt + max_tokens within the context, enough
  // KV blocks in the whole cache, sampling parameters in their ranges (ValidateSamplingParams),
  // prompt log-probability counts within the vocabulary.
  absl::Status Validate(const GenerateRequest& request) const;

  // Runs every request; results come back in input order. A request that fails validation gets
  // its error in `status`; an engine failure is returned as the overall error.
  absl::StatusOr<std::vector<GenerateResult>> Run(const std::vector<GenerateRequest>& requests);

  const OfflineRunStats& stats() const { return stats_; }

 private:
  Engine& engine_;
  OfflineSchedulerOptions options_;
  OfflineRunStats stats_;
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_OFFLINE_SCHEDULER_H_
