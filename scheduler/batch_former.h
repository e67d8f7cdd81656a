// Batch forming: cuts one step's plan out of the running and waiting sequences under the token
// budget and max_num_seqs. Running sequences come first, in the policy's order, decodes and
// prefill chunks alike (a long prompt is chunked, so it never stalls the decodes); then waiting
// ones in the policy's admission order with the budget that is left. What fits in KV blocks and
// adapter slots is Capacity's to say: a running sequence short of blocks gets a smaller chunk
// or preempts sequences after it, and a waiting head that does not fit (or whose adapter has no
// slot) blocks those behind it, so big requests are not overtaken forever.
//
// Not thread-safe: the scheduler thread drives it. `state`, `capacity` and `outputs` must
// outlive it.
#ifndef TESSERA_SCHEDULER_BATCH_FORMER_H_
#define TESSERA_SCHEDULER_BATCH_FORMER_H_

#include <cstdint>
#include <vector>

#include "absl/time/time.h"
#include "absl/types/span.h"
#include "engine/step_plan.h"
#include "scheduler/capacity.h"
#include "scheduler/output_apply.h"
#include "scheduler/scheduler_state.h"

namespace tessera {

class BatchFormer {
 public:
  struct Scheduled {
    Sequence* seq;
    int64_t fed;  // tokens fed this step
  };

  // `vocab_size`: the model's (EOS ids outside it are not suppressed).
  BatchFormer(SchedulerState& state, Capacity& capacity, OutputApplier& outputs,
              const SchedulerOptions& options, int64_t vocab_size);
  BatchFormer(const BatchFormer&) = delete;
  BatchFormer& operator=(const BatchFormer&) = delete;

  // Forms the plan of the step at `now` under `budget` tokens; `order` holds the running
  // sequences in the order the policy feeds them.
  void Form(absl::Time now, int64_t budget, absl::Span<Sequence* const> order);

  const StepPlan& plan() const { return plan_; }
  // What the plan holds, in plan order.
  const std::vector<Scheduled>& scheduled() const { return scheduled_; }
  int32_t num_prefill_tokens() const { return num_prefill_tokens_; }

 private:
  // What is left of the step's room as it is formed.
  struct Room {
    int64_t tokens;
    int32_t seqs;
    bool open() const { return tokens > 0 && seqs > 0; }
  };

  // The running sequences of `order` that `pass` takes: decodes (kDecodes), the others
  // (kPrefills) or all of them.
  enum class Pass : uint8_t { kAll, kDecodes, kPrefills };
  void ScheduleRunning(absl::Time now, absl::Span<Sequence* const> order, Room* room, Pass pass);
  // Admits waiting sequences in the policy's order; with `before` set, only while the policy
  // ranks the next one ahead of that running prefill.
  void AdmitWaiting(absl::Time now, Room* room, const Sequence* before = nullptr);
  // `later` without the sequences this step has planned (reuses victims_).
  absl::Span<Sequence* const> Unplanned(absl::Span<Sequence* const> later);
  void Admit(Sequence* seq, absl::Time now);
  // `chunk` (of a prefill) cut to what fits in the policy's StepSecondsLimit with the plan so
  // far, by the step-time model and the chunk's real attention; 0: none fits.
  int64_t WithinTime(const Sequence& seq, int64_t chunk) const;
  // Allocates `chunk` more tokens of KV for `seq` and adds it to the plan.
  void Schedule(Sequence* seq, int64_t chunk, Room* room);
  void AddToPlan(Sequence* seq, int64_t chunk);

  SchedulerState& state_;
  Capacity& capacity_;
  OutputApplier& outputs_;
  int32_t max_num_seqs_;
  int64_t vocab_size_;
  // Reused from step to step, so that their buffers are not reallocated each time.
  StepPlan plan_;
  std::vector<BlockCopyPair> copies_;  // copy-on-write copies of this step's plan
  std::vector<int32_t> feed_;          // one sequence's tokens for the plan
  std::vector<Scheduled> scheduled_;
  int32_t num_prefill_tokens_ = 0;
  // The plan so far in the step-time model's features, and the policy's limit on its time.
  StepShape shape_;
  double seconds_limit_ = 0;
  std::vector<Sequence*> victims_;
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_BATCH_FORMER_H_
