// The log lines in which tesserad reports its start, phase by phase, for operators and for
// tools that read them (the end-to-end test, bench/cold_start_bench):
//
//   tesserad: start phase=weights seconds=0.0123
//   ... one line per phase, in order ...
//   tesserad: start summary total_seconds=0.4567 process=0.0100 setup=0.0001 ... ready=0.0021
//
// Seconds with four decimals; total_seconds is the sum of the phases, the time from the process's
// start (when the process phase is there) to both servers listening. The phases are
// engine/phase_timer.h's kPhase* names. Keep the format: it is parsed.
//
// Stateless functions; thread-safe.
#ifndef TESSERA_SERVER_START_LOG_H_
#define TESSERA_SERVER_START_LOG_H_

#include <string>
#include <vector>

#include "engine/phase_timer.h"

namespace tessera {

// One line per phase, then the summary line.
std::vector<std::string> StartLogLines(const std::vector<PhaseTimer::Phase>& phases);

}  // namespace tessera

#endif  // TESSERA_SERVER_START_LOG_H_
