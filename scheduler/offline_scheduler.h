// Runs a fixed set of generation requests to completion: the offline runner behind
// `tessera generate` and the golden tests. It drives the serving scheduler (SchedulerCore) on
// the calling thread with every request queued at once, so offline runs batch, chunk, preempt
// and stop exactly as the daemon does.
//
// Not thread-safe: Run() drives the engine on the calling thread.
#ifndef TESSERA_SCHEDULER_OFFLINE_SCHEDULER_H_
#define TESSERA_SCHEDULER_OFFLINE_SCHEDULER_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "scheduler/request.h"
#include "scheduler/request_validator.h"
#include "scheduler/scheduler_core.h"
#include "text/tokenizer/tokenizer.h"

namespace tessera {

struct OfflineSchedulerOptions {
  int32_t max_num_batched_tokens = 2048;  // tokens fed per step, all sequences together
  int32_t max_num_seqs = 256;             // sequences per step
  int64_t max_model_len = 0;              // SchedulerOptions::max_model_len
  bool enable_prefix_caching = true;      // SchedulerOptions::enable_prefix_caching
};

struct OfflineRunStats {
  int64_t steps = 0;
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  int32_t max_running = 0;  // sequences in one step
  int64_t preemptions = 0;
};

class OfflineScheduler {
 public:
  // `tokenizer` (may be null) gives results their text and enables stop strings.
  OfflineScheduler(Engine& engine, OfflineSchedulerOptions options,
                   const Tokenizer* tokenizer = nullptr);

  // Checks a request against the model, the cache and the scheduler's limits before anything
  // runs (RequestValidator, which includes ValidateSamplingParams).
  absl::Status Validate(const GenerateRequest& request) const;

  // Runs every request; results come back in input order. A request that fails validation gets
  // its error in `status`; an engine failure is returned as the overall error.
  absl::StatusOr<std::vector<GenerateResult>> Run(const std::vector<GenerateRequest>& requests);

  const OfflineRunStats& stats() const { return stats_; }

 private:
  SchedulerOptions CoreOptions(size_t num_requests) const;

  Engine& engine_;
  OfflineSchedulerOptions options_;
  const Tokenizer* tokenizer_;
  SystemClock clock_;
  RequestValidator validator_;  // Validate() without a run
  OfflineRunStats stats_;
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_OFFLINE_SCHEDULER_H_
