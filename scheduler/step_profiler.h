// The profiling pass at start: a handful of engine steps of chosen shapes, timed, so that the
// step-time model (step_time_model.h) starts from this engine's measured speed instead of a
// guess. The engine stays unaware of it: the pass builds ordinary step plans over KV blocks it
// takes from the scheduler's block manager, and gives every block back when it is done, so the
// cache is as before (the same number of free blocks, nothing referenced).
//
// The shapes: a warm-up step (thread pools, first-touch page faults), then groups of b sequences
// that prefill c tokens each in one step and then decode twice, for (b, c) chosen so that the
// prefill tokens, decoding sequences and attended positions vary independently (one sequence
// and many, short contexts and long). Adapter rows are not exercised (the pass would need an
// adapter); their coefficient keeps its prior.
//
// Stateless functions; the engine and block manager are the caller's and must not be in use
// (the scheduler thread has not started, or is the caller).
#ifndef TESSERA_SCHEDULER_STEP_PROFILER_H_
#define TESSERA_SCHEDULER_STEP_PROFILER_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "scheduler/clock.h"
#include "scheduler/kv_block_manager.h"
#include "scheduler/step_time_model.h"

namespace tessera {

struct StepProfileOptions {
  // Engine steps in all, the warm-up included (--profile-steps); 0: no pass.
  int32_t max_steps = 13;
  // The longest prefill step, in tokens (also capped by max_num_batched_tokens, the model's
  // context and the cache): long enough to show attention's quadratic cost, short enough for
  // the CPU engine (about 0.2 s for llama-small on an idle core).
  int64_t max_chunk_tokens = 128;
  // The pass's time bound: it stops once this much has passed, and leaves out a group whose
  // prefill, at the slowest rate per token measured so far, would end past it (the fit uses
  // what it has).
  absl::Duration max_time = absl::Seconds(3);
  // The scheduler's limits: a profiling step never exceeds what a serving step may feed.
  int64_t max_num_batched_tokens = 2048;
  int32_t max_num_seqs = 256;
  // Positions a sequence may reach (the model's context, or --max-model-len); 0: the model's.
  int64_t max_model_len = 0;
};

struct StepProfile {
  std::vector<StepSample> samples;  // the measured steps (the warm-up not included)
  absl::Duration elapsed;           // the whole pass, warm-up included
};

// Runs the pass on `engine` with blocks from `blocks`, timing each step with `clock`.
// InvalidArgument for options out of range; an engine error is returned as is (the blocks are
// freed either way).
absl::StatusOr<StepProfile> ProfileSteps(Engine& engine, KvBlockManager& blocks, const Clock& clock,
                                         const StepProfileOptions& options);

// How well `coefficients` predict `samples`: the mean and the largest |predicted - measured| /
// measured (samples measured at 0 s are skipped).
struct FitError {
  double mean_relative = 0;
  double max_relative = 0;
};
FitError FitErrorOf(const StepTimeCoefficients& coefficients,
                    const std::vector<StepSample>& samples);

}  // namespace tessera

#endif  // TESSERA_SCHEDULER_STEP_PROFILER_H_
