// A discrete-time simulation of a SchedulerCore over the FakeEngine, for property tests: requests
// arrive at given times (added between steps), a manual clock moves a random amount per step, the
// test may cancel requests at random, and every step is checked against the scheduler's
// invariants (budgets, block accounting -- adapters' blocks included --, gauges, progress).
// Afterwards CheckOutcomes() checks what every request received against an independent computation
// of its output.
//
// Checks report through gtest (ADD_FAILURE) and stop the run at the first broken one, so a bad
// seed prints one clear message instead of thousands.
#ifndef TESSERA_TESTS_SCHEDULER_SCHEDULER_SIMULATION_H_
#define TESSERA_TESTS_SCHEDULER_SCHEDULER_SIMULATION_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "scheduler/clock.h"
#include "scheduler/scheduler_core.h"
#include "tests/scheduler/fake_engine.h"

namespace tessera::testing {

// What the scheduler should produce for sample `index` of `r`, computed by iterating the fake's
// pure model with the request's stop rules (EOS unless ignore_eos, stop_token_ids, min_tokens,
// max_tokens).
struct ExpectedSample {
  std::vector<int32_t> token_ids;
  FinishReason finish = FinishReason::kLength;
};
ExpectedSample ExpectSample(const FakeEngine& engine, const GenerateRequest& r, int32_t index);

// Records a request's updates and when they came.
class RecordingSink final : public RequestSink {
 public:
  RecordingSink(const Clock& clock, const int64_t& step) : clock_(clock), step_(step) {}
  void Push(RequestUpdate update) override;

  CollectedRequest collected;
  int32_t num_updates = 0;
  int32_t num_final = 0;
  int32_t updates_after_final = 0;
  int64_t tokens_received = 0;
  std::optional<int64_t> first_token_step;
  std::optional<absl::Time> final_time;

 private:
  const Clock& clock_;
  const int64_t& step_;
};

struct Arrival {
  absl::Duration at;  // since the start of the run
  GenerateRequest request;
};

struct SimulationConfig {
  SchedulerOptions options;
  FakeEngineOptions engine;
  absl::Duration max_tick = absl::Milliseconds(10);  // the clock moves [0, max_tick] per step
  double cancel_probability = 0;                     // per step: cancel a random request
  int64_t max_steps = 200000;                        // more means no progress (livelock)
  uint64_t seed = 0;
};

class Simulation {
 public:
  struct Tracked {
    GenerateRequest request;
    absl::Status add_status;
    absl::Time added;
    bool cancelled = false;  // by the test (Cancel returned true)
    std::shared_ptr<RecordingSink> sink;
  };

  explicit Simulation(SimulationConfig config);

  // Adds the arrivals as their times come and steps until everything finished. Returns false
  // (after a gtest failure) when an invariant broke.
  bool Run(std::vector<Arrival> arrivals);
  // Every request's updates against ExpectSample and how it ended. Returns false on a failure.
  bool CheckOutcomes() const;

  // Optional hook run between steps (after arrivals), e.g. to keep a load going.
  std::function<void(Simulation&)> between_steps;
  // Adds a request now.
  void Add(GenerateRequest request);

  const std::map<std::string, Tracked>& requests() const { return requests_; }
  const SchedulerCore& core() const { return *core_; }
  const FakeEngine& engine() const { return *engine_; }
  absl::Time now() const { return clock_.Now(); }
  int64_t steps() const { return step_; }
  int64_t block_copies() const { return block_copies_; }
  int64_t chunked_prefills() const { return chunked_prefills_; }
  int32_t num_in_flight() const;

 private:
  bool CheckStep(const StepReport& report);
  bool CheckGauges();
  bool CheckCounters() const;
  bool CheckAdapterBlocks() const;
  void MaybeCancel();

  SimulationConfig config_;
  std::mt19937_64 rng_;
  ManualClock clock_;
  std::unique_ptr<FakeEngine> engine_;
  std::unique_ptr<SchedulerCore> core_;
  std::map<std::string, Tracked> requests_;
  int64_t step_ = 0;
  int64_t block_copies_ = 0;
  int64_t chunked_prefills_ = 0;
};

}  // namespace tessera::testing

#endif  // TESSERA_TESTS_SCHEDULER_SCHEDULER_SIMULATION_H_
