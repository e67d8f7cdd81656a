// A lower bound on the server time that serving a workload within its latency targets takes,
// from the step-time cost model alone (no scheduler): what bench/slo_sim --bound prints next to
// the policies' attainment, to tell a policy that falls short from a load that cannot be served.
//
// The cost model is linear: a step costs a constant plus per-token terms. The per-token work of a
// request does not depend on how it is batched (its prompt tokens and their attention, one
// decode row per output token after the first and its attention), so it is summed exactly. The
// constants depend on the number of steps: a request with k output tokens that meets both
// targets has them from k distinct steps, all ending within its window [arrival, arrival + TTFT
// target + (k - 1) x TPOT target]; steps of disjoint windows are distinct, so the largest sum of
// k over disjoint windows (weighted interval scheduling) is a lower bound on the steps of any
// schedule that meets every request's targets. All that work fits in [first arrival, last end
// of a window]; `load` above 1 means no schedule meets every target.
//
// Plain functions; thread-compatible.
#ifndef TESSERA_BENCH_SLO_SIM_BOUND_H_
#define TESSERA_BENCH_SLO_SIM_BOUND_H_

#include <cstdint>
#include <vector>

#include "bench/slo_sim_run.h"
#include "scheduler/step_time_model.h"

namespace tessera {

struct WorkBound {
  double begin = 0, end = 0;   // seconds: the first arrival, the last window's end
  double prefill_seconds = 0;  // prompt tokens and their attention (and adapter rows)
  double decode_seconds = 0;   // decode rows after the first token, and their attention
  int64_t min_steps = 0;       // steps any schedule meeting every target takes at least
  double step_seconds = 0;     // min_steps x the model's constant
  double total() const { return prefill_seconds + decode_seconds + step_seconds; }
  // The busy share of [begin, end] that the work takes at least.
  double load() const { return end > begin ? total() / (end - begin) : 0; }
};

// Over every arrival of `arrivals` (each needs its ttft and tpot targets set; max_tokens outputs).
WorkBound MinimumWork(const std::vector<SimArrival>& arrivals, const StepTimeCoefficients& cost);

}  // namespace tessera

#endif  // TESSERA_BENCH_SLO_SIM_BOUND_H_
