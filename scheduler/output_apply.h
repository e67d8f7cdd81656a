// Output application: turns an engine step's results into sequence and request updates. Per
// scheduled sequence it records prompt log-probabilities and computed positions, forks the `n`
// samples of a prompt once it is computed (they share its KV blocks), appends the sampled token,
// and applies the stop rules: stop tokens, EOS (unless ignore_eos), stop strings, min_tokens,
// max_tokens. A sequence whose logits were not finite ends its request with INTERNAL
// "non-finite logits in step", naming the adapter, and none of that step's tokens. It also
// finishes sequences and requests (timings, target attainment, counters) and pushes each
// request's news to its sink once per step.
//
// Not thread-safe: the scheduler thread drives it. `state`, `capacity` and the tokenizer must
// outlive it.
#ifndef TESSERA_SCHEDULER_OUTPUT_APPLY_H_
#define TESSERA_SCHEDULER_OUTPUT_APPLY_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "scheduler/capacity.h"
#include "scheduler/scheduler_state.h"
#include "text/tokenizer/tokenizer.h"

namespace tessera {

class OutputApplier {
 public:
  // `tokenizer` may be null (no text, no stop strings); `eos_ids` are the model's.
  OutputApplier(SchedulerState& state, Capacity& capacity, const Tokenizer* tokenizer,
                std::vector<int64_t> eos_ids);
  OutputApplier(const OutputApplier&) = delete;
  OutputApplier& operator=(const OutputApplier&) = delete;

  // Applies `out`, the engine's result for `seq` which was fed `fed` tokens, at `now`.
  void Apply(Sequence* seq, int64_t fed, SequenceOutput& out, absl::Time now);
  // Ends `r` with `status` (OK: its samples finished), aborting its unfinished sequences.
  void FinishRequest(RequestState* r, const absl::Status& status, absl::Time now);
  // Pushes this step's updates to their sinks and forgets the finished requests.
  void FlushUpdates();

  const std::vector<int64_t>& eos_ids() const { return eos_ids_; }

 private:
  void AppendToken(Sequence* seq, int32_t token, std::optional<LogprobEntry> logprob,
                   absl::Time now);
  void ForkSamples(Sequence* parent);
  void FinishSequence(Sequence* seq, FinishReason reason, absl::Time now);

  SchedulerState& state_;
  Capacity& capacity_;
  const Tokenizer* tokenizer_;
  std::vector<int64_t> eos_ids_;
};

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_OUTPUT_APPLY_H_
