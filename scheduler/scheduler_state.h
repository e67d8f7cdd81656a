// What the parts of a SchedulerCore share: the requests in flight, the running sequences, the
// policy that keeps the waiting ones, the counts the queue bounds use, and the stats. The core
// owns it; Capacity (what fits, preemption) and OutputApplier (a step's results) work on it.
//
// Invariants: every unfinished sequence of a request in `requests` is either in `running`
// (state kRunning) or waiting in `policy` (state kWaiting); `running` is in admission order
// (admit_order grows along it).
//
// Not thread-safe: the scheduler thread owns it.
#ifndef TESSERA_SCHEDULER_SCHEDULER_STATE_H_
#define TESSERA_SCHEDULER_SCHEDULER_STATE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "scheduler/scheduler_options.h"
#include "scheduler/scheduler_stats.h"
#include "scheduler/scheduling_policy.h"
#include "scheduler/sequence.h"
#include "text/tokenizer/tokenizer.h"

namespace tessera {

struct SchedulerState {
  explicit SchedulerState(const SchedulerOptions& options)
      : step_model(StepModelFor(options)),
        fairness(FairnessFor(options)),
        policy(MakeSchedulingPolicy(
            options, &step_model, options.fairness == FairnessKind::kVtc ? &fairness : nullptr)) {}

  // The step-time model seeded with options.step_time_prior; the fairness counter with the
  // tenants' weights.
  static StepTimeModel StepModelFor(const SchedulerOptions& options);
  static VtcFairness FairnessFor(const SchedulerOptions& options);

  // A new sequence for sample `index` of `r`, appended to r->seqs (waiting, nothing computed):
  // its own seed from the request's, and its own output text when there is a tokenizer.
  Sequence* NewSample(RequestState* r, int32_t index, const Tokenizer* tokenizer);
  void RemoveFromRunning(const Sequence* seq);

  absl::flat_hash_map<std::string, std::unique_ptr<RequestState>> requests;
  // Measured steps refine it (the core); the slo policy sizes budgets with it.
  StepTimeModel step_model;
  VtcFairness fairness;
  std::unique_ptr<SchedulingPolicy> policy;
  std::vector<Sequence*> running;
  // Requests not yet started (queue bounds count only these), and their prompt tokens.
  int32_t waiting_new_requests = 0;
  int64_t waiting_new_prompt_tokens = 0;
  SeqId next_seq_id = 0;
  int64_t next_admit_order = 0;
  std::vector<RequestState*> touched;                // requests with an update this step
  std::map<std::string, int32_t> adapter_in_flight;  // requests in flight by adapter name
  SchedulerStats stats;
};

// A distinct, reproducible seed for sample `index` of a request seeded with `base` (the first
// sample uses `base` itself).
uint64_t SampleSeed(uint64_t base, int32_t index);

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_SCHEDULER_STATE_H_
