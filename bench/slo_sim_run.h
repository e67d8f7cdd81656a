// The parts of bench/slo_sim that run a workload: the issue's request mix, an engine whose step
// takes the time a cost model says on a virtual clock, the real SchedulerCore over it, and the
// per-request outcomes with their summary (attainment, goodput, p99s). slo_sim's sweep, fairness
// experiment and bound are built on these; tests/bench checks them.
//
// Plain functions and values; not thread-safe (each Simulate owns its clock, engine and core).
#ifndef TESSERA_BENCH_SLO_SIM_RUN_H_
#define TESSERA_BENCH_SLO_SIM_RUN_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "scheduler/request.h"
#include "scheduler/scheduler_options.h"
#include "scheduler/step_time_model.h"

namespace tessera {

// A request class of the mix: its share of arrivals, uniform prompt and output lengths, targets.
struct SimClass {
  std::string name;
  double share;
  int64_t prompt_min, prompt_max, output_min, output_max;
  absl::Duration ttft_target, tpot_target;
};

// The issue's mix: 80% chat (64-256 prompt, 48-128 output), 20% documents (1024-2048 prompt,
// 64-128 output); targets 3x each class's solo latency under `cost` (its longest prompt alone,
// one decode alone).
std::vector<SimClass> IssueClasses(const StepTimeCoefficients& cost);

struct SimArrival {
  double at;  // seconds from the start
  GenerateRequest request;
  std::string cls;
};

struct TenantLoad {
  std::string name;
  double rate;  // requests per second
};

// `n` Poisson arrivals over `tenants` (each at its rate), classes drawn by share. Requests ignore
// EOS (each runs to max_tokens), and no two share a prefix (each has its own cache salt): the
// mix has none, and the filler tokens of the prompts would otherwise all hit the prefix cache.
std::vector<SimArrival> SimWorkload(const std::vector<SimClass>& classes,
                                    const std::vector<TenantLoad>& tenants, int64_t n,
                                    uint64_t seed);

// What one request saw.
struct SimOutcome {
  std::string cls, tenant;
  bool finished = false;
  bool met_both = false, met_ttft = false, met_tpot = false;
  double ttft = 0, tpot = 0, queue = 0;  // seconds (tpot: mean after the first token)
};

// What the engine's steps were (the --diagnose figures).
struct SimStepStats {
  int64_t steps = 0, prefill_steps = 0, prefill_tokens = 0, decodes = 0;
  double seconds = 0, prefill_step_seconds = 0, max_step = 0;
};

// Runs `arrivals` through a SchedulerCore with `options` (its step-time prior set to `cost`) to
// the end; one outcome per arrival, in order. `elapsed`: virtual seconds to the last finish.
std::vector<SimOutcome> Simulate(const std::vector<SimArrival>& arrivals, SchedulerOptions options,
                                 const StepTimeCoefficients& cost, double* elapsed,
                                 SimStepStats* step_stats = nullptr);

// Linear interpolation between ranks; 0 for an empty sample.
double Percentile(std::vector<double> v, double p);

struct SimSummary {
  double attainment = 0, goodput = 0;                // share meeting both targets; those per second
  std::map<std::string, double> ttft_p99, tpot_p99;  // by class
};

// Over every outcome, or only `tenant`'s when it is not empty.
SimSummary Summarize(const std::vector<SimOutcome>& outcomes, double elapsed,
                     const std::string& tenant = "");

}  // namespace tessera

#endif  // TESSERA_BENCH_SLO_SIM_RUN_H_
