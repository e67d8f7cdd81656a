#include "bench/slo_sim_hindsight.h"

#include <algorithm>

namespace tessera {
namespace {

// The arrivals whose index `keep` marks, in order, and the outcomes of running them, by index
// into `arrivals` (those left out: not finished).
std::vector<SimOutcome> RunKept(const std::vector<SimArrival>& arrivals,
                                const std::vector<bool>& keep, const SchedulerOptions& options,
                                const StepTimeCoefficients& cost) {
  std::vector<SimArrival> kept;
  std::vector<size_t> index;
  for (size_t i = 0; i < arrivals.size(); ++i) {
    if (!keep[i]) continue;
    kept.push_back(arrivals[i]);
    index.push_back(i);
  }
  double elapsed = 0;
  const std::vector<SimOutcome> ran = Simulate(kept, options, cost, &elapsed);
  std::vector<SimOutcome> out(arrivals.size());
  for (size_t k = 0; k < ran.size(); ++k) out[index[k]] = ran[k];
  return out;
}

// Whether every kept request met both targets.
bool AllMet(const std::vector<SimOutcome>& outcomes, const std::vector<bool>& keep) {
  for (size_t i = 0; i < keep.size(); ++i) {
    if (keep[i] && !outcomes[i].met_both) return false;
  }
  return true;
}

}  // namespace

HindsightResult HindsightAdmission(const std::vector<SimArrival>& arrivals,
                                   const SchedulerOptions& options,
                                   const StepTimeCoefficients& cost, bool offer_back) {
  HindsightResult result;
  result.total = static_cast<int64_t>(arrivals.size());
  std::vector<bool> keep(arrivals.size(), true);
  std::vector<SimOutcome> outcomes;
  // Each run refuses one request, so at most one run per request.
  for (size_t round = 0; round <= arrivals.size(); ++round) {
    outcomes = RunKept(arrivals, keep, options, cost);
    ++result.runs;
    // The missed request with the longest prompt (the earliest among equals) is refused.
    size_t refuse = keep.size();
    for (size_t i = 0; i < keep.size(); ++i) {
      if (!keep[i] || outcomes[i].met_both) continue;
      if (refuse == keep.size() || arrivals[i].request.prompt_token_ids.size() >
                                       arrivals[refuse].request.prompt_token_ids.size()) {
        refuse = i;
      }
    }
    if (refuse == keep.size()) {
      result.converged = true;
      break;
    }
    keep[refuse] = false;
  }
  if (result.converged && offer_back) {
    for (size_t i = 0; i < keep.size(); ++i) {
      if (keep[i]) continue;
      keep[i] = true;
      const std::vector<SimOutcome> with = RunKept(arrivals, keep, options, cost);
      ++result.runs;
      if (AllMet(with, keep)) {
        outcomes = with;
      } else {
        keep[i] = false;
      }
    }
  }
  for (size_t i = 0; i < keep.size(); ++i) {
    if (!keep[i]) {
      ++result.refused;
    } else if (outcomes[i].met_both) {
      ++result.met;
    }
  }
  return result;
}

}  // namespace tessera
