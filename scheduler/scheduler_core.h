// The serving scheduler's state machine: continuous batching over an Engine, one step at a time.
//
// Lifecycle of a request: waiting -> running -> finished | aborted, and running -> preempted ->
// waiting (ahead of those that never ran). A step reads
//   1. reap: requests that were cancelled or ran past their deadline leave (blocks freed);
//   2. order: the scheduling policy (scheduling_policy.h; --scheduling-policy) sizes the token
//      budget, may let the waiting head preempt running sequences (capacity.h), and orders the
//      running sequences;
//   3. form: running sequences first, in that order, decodes and prefill chunks alike, then
//      waiting ones in the policy's admission order with the budget that is left (a long prompt
//      is chunked, so it never stalls the decodes); capacity is decided apart from forming: a
//      sequence that needs KV blocks that are not free takes idle adapters' blocks, then
//      preempts (by recompute) sequences after it, as the policy chooses, possibly itself; a
//      waiting head that does not fit blocks those behind it, so big requests are not overtaken
//      forever; then adapters of waiting requests are prefetched into empty slots;
//   4. run: Engine::Step;
//   5. apply: the samples become tokens, stops and finishes (output_apply.h), and each request's
//      news goes to its sink.
// A request that can never fit (alone, in the whole cache) is refused when added, so the loop
// cannot deadlock; the first running sequence in the policy's order always progresses.
//
// Not thread-safe: the Scheduler thread (or a test) drives it. The engine, tokenizer and clock
// must outlive it.
#ifndef TESSERA_SCHEDULER_SCHEDULER_CORE_H_
#define TESSERA_SCHEDULER_SCHEDULER_CORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "scheduler/batch_former.h"
#include "scheduler/capacity.h"
#include "scheduler/clock.h"
#include "scheduler/kv_block_manager.h"
#include "scheduler/output_apply.h"
#include "scheduler/request.h"
#include "scheduler/request_sink.h"
#include "scheduler/request_validator.h"
#include "scheduler/scheduler_options.h"
#include "scheduler/scheduler_state.h"
#include "scheduler/scheduler_stats.h"
#include "scheduler/step_profiler.h"
#include "text/tokenizer/tokenizer.h"

namespace tessera {

// What one step did (for tests and the benchmark).
struct StepReport {
  bool ran = false;  // false: nothing to run (idle)
  int32_t num_seqs = 0;
  int32_t num_tokens = 0;
  int32_t num_prefill_tokens = 0;
  int32_t num_preempted = 0;
};

class SchedulerCore {
 public:
  // `tokenizer` may be null: output is then token ids only and stop strings are refused.
  SchedulerCore(Engine& engine, const Tokenizer* tokenizer, const Clock& clock,
                SchedulerOptions options);
  ~SchedulerCore();
  SchedulerCore(const SchedulerCore&) = delete;
  SchedulerCore& operator=(const SchedulerCore&) = delete;

  // Checks a request against the model, the cache and the options: InvalidArgument naming the
  // field (RequestValidator).
  absl::Status Validate(const GenerateRequest& request) const {
    return validator_.Validate(request);
  }
  const RequestValidator& validator() const { return validator_; }

  // Queues a request; its updates go to `sink`. InvalidArgument (see Validate), AlreadyExists
  // for an id in flight, ResourceExhausted when the waiting queue is full.
  absl::Status Add(GenerateRequest request, std::shared_ptr<RequestSink> sink);
  // The same for a request validated already (not checked again).
  absl::Status Add(ValidatedRequest request, std::shared_ptr<RequestSink> sink);

  // Marks a request cancelled; it leaves at the next step boundary with a CANCELLED final
  // update. False when no such request is in flight.
  bool Cancel(const std::string& request_id);

  // Runs one step. An engine failure aborts every request in flight (INTERNAL) and is returned.
  absl::StatusOr<StepReport> Step();

  // Aborts every request in flight with `status` (shutdown).
  void AbortAll(const absl::Status& status);

  // Sleep mode: drops the prefix cache and the resident adapters (their KV blocks and slots),
  // then puts the engine to sleep (Engine::Sleep). FailedPrecondition unless idle; the engine's
  // error otherwise (the caches are dropped either way: they are only caches).
  absl::Status Sleep(SleepLevel level);
  // Engine::WakeUp. Adapters load again as requests name them.
  absl::Status WakeUp();

  // Runs the profiling pass (step_profiler.h) on this core's engine and KV blocks, within the
  // scheduler's limits (options' step and time bounds are kept), and seeds the step-time model
  // with what it measured. The blocks are all free again afterwards. FailedPrecondition unless
  // idle (it is meant for before serving); an engine error is returned and seeds nothing.
  absl::StatusOr<StepProfile> ProfileStepTime(StepProfileOptions options);
  const StepTimeModel& step_model() const { return state_.step_model; }

  bool idle() const { return state_.requests.empty(); }
  int32_t num_waiting_new_requests() const { return state_.waiting_new_requests; }
  int64_t num_waiting_new_prompt_tokens() const { return state_.waiting_new_prompt_tokens; }
  const SchedulerStats& stats() const { return state_.stats; }
  const KvBlockManager& blocks() const { return capacity_.blocks(); }

 private:
  void ReapAborted(absl::Time now);
  // Feeds a step's measured time to the step-time model and records it, with the prediction made
  // before it and the token budget, in the stats.
  void RecordStepTime(const StepShape& shape, int64_t budget, double predicted, double measured);
  // Applies the engine's results and records the step.
  void ApplyResults(StepResult& result, StepReport* report);
  void FinishStep();
  void RefreshGauges();

  Engine& engine_;
  const Tokenizer* tokenizer_;
  const Clock& clock_;
  SchedulerOptions options_;
  RequestValidator validator_;
  SchedulerState state_;
  Capacity capacity_;      // after state_, which it uses
  OutputApplier outputs_;  // after capacity_, which it uses
  BatchFormer batch_;      // after outputs_, which it uses

  // What ReapAborted looks at, so that a step does not scan every request in flight: ids
  // cancelled since the last step, and a min-heap of deadlines (an entry whose request has
  // finished, or whose id now names a newer request, is skipped when it comes up).
  std::vector<std::string> cancelled_;
  using Deadline = std::pair<absl::Time, std::string>;
  std::priority_queue<Deadline, std::vector<Deadline>, std::greater<Deadline>> deadlines_;
  std::vector<Sequence*> order_;  // running sequences in the policy's order (reused)
  int64_t gauge_epoch_ = 0;       // counts RefreshGauges calls
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_SCHEDULER_CORE_H_
