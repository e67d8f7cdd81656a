// A clairvoyant reference for bench/slo_sim: how many requests a policy meets both targets for
// when the requests to refuse are chosen in hindsight, knowing every arrival and output length.
// Not an online policy and not a proof of optimality: it measures what perfect admission control
// would add to a policy's ordering and budgets (slo_sim --hindsight).
//
// The search (Moore-Hodgson in hindsight): run the workload; of the requests that missed, refuse
// the one with the longest prompt (a refused request costs the server nothing: it is left out,
// as if served after everything else); run the rest again, and so on until every request left
// meets both targets. Then each refused request is offered back, in arrival order, and kept
// when the run with it still meets every kept request's targets and its own. A run per refused
// request and per offer: seconds at 1,500 requests.
//
// Plain functions; not thread-safe (each run owns its clock, engine and core).
#ifndef TESSERA_BENCH_SLO_SIM_HINDSIGHT_H_
#define TESSERA_BENCH_SLO_SIM_HINDSIGHT_H_

#include <cstdint>
#include <vector>

#include "bench/slo_sim_run.h"

namespace tessera {

struct HindsightResult {
  int64_t total = 0;       // requests in the workload
  int64_t met = 0;         // kept requests that met both targets (all of them, when converged)
  int64_t refused = 0;     // left out
  int64_t runs = 0;        // simulations it took
  bool converged = false;  // every kept request met both targets (always, short of a bug)
  double attainment() const { return total > 0 ? static_cast<double>(met) / total : 0; }
};

// `arrivals` through `options`'s policy with refusals chosen as above. `offer_back`: try the
// refused requests again one by one (a run each).
HindsightResult HindsightAdmission(const std::vector<SimArrival>& arrivals,
                                   const SchedulerOptions& options,
                                   const StepTimeCoefficients& cost, bool offer_back = true);

}  // namespace tessera

#endif  // TESSERA_BENCH_SLO_SIM_HINDSIGHT_H_
