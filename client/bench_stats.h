// The numbers a `tessera bench-serve` run reports, computed from what each request did.
//
// Definitions (all latencies from the request's *scheduled* arrival, so that a client running
// behind its schedule cannot hide queueing from the figures, the "coordinated omission" trap):
//   TTFT = first token delta - scheduled arrival.
//   TPOT = (last token - first token) / (output tokens - 1); undefined for fewer than 2 tokens.
//   A completed request meets its TTFT target when TTFT <= ttft_target_ms, and its TPOT target
//   when TPOT <= tpot_target_ms or it has fewer than 2 tokens; no target (0) is always met. A
//   request that failed meets neither. Attainment = requests meeting it / measured requests sent.
//   Goodput = requests that met both / elapsed; throughput = completed requests (output tokens) /
//   elapsed, where elapsed runs from the start of the measured window to the last measured
//   request's end.
//   Percentiles interpolate linearly between the closest ranks (numpy's default).
// Warm-up requests are counted apart and left out of everything else.
//
// Pure functions over values; thread-compatible.
#ifndef TESSERA_CLIENT_BENCH_STATS_H_
#define TESSERA_CLIENT_BENCH_STATS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/bench_workload.h"
#include "nlohmann/json.hpp"

namespace tessera {

// What the runner saw of one request. Times are seconds from the run's start on a monotonic clock.
struct RequestRecord {
  double scheduled_s = 0;     // the planned arrival
  double sent_s = 0;          // when the call started: scheduled_s plus the client's lag
  double first_token_s = -1;  // -1: no token came
  double last_token_s = -1;
  double end_s = 0;
  int32_t output_tokens = 0;  // counted from the streamed deltas
  int32_t prompt_tokens = 0;  // the server's usage (0 for a failed call)
  absl::StatusCode code = absl::StatusCode::kOk;
  std::string error;  // the status message of a failed call
};

// The p-th percentile (0..100) of `values` by linear interpolation between closest ranks; NaN
// when empty. `values` need not be sorted.
double Percentile(std::vector<double> values, double p);

struct Distribution {
  size_t count = 0;
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;  // NaN when count is 0
};
Distribution Summarize(const std::vector<double>& values);

struct GroupStats {
  int64_t sent = 0;
  int64_t completed = 0;
  int64_t errors = 0;
  std::map<std::string, int64_t> errors_by_code;  // "DEADLINE_EXCEEDED" -> count
  int64_t met_both = 0;
  int64_t met_ttft = 0;
  int64_t met_tpot = 0;
  int64_t output_tokens = 0;
  int64_t prompt_tokens = 0;
  Distribution ttft_ms;
  Distribution tpot_ms;
  Distribution e2e_ms;
};

struct RunReport {
  double elapsed_s = 0;  // the denominator of every rate
  double window_s = 0;   // the measured arrivals' window: --duration, or to the last arrival
  GroupStats all;
  std::map<std::string, GroupStats> by_class;
  std::map<std::string, GroupStats> by_tenant;  // empty without tenants
  int64_t warmup_sent = 0;
  int64_t warmup_completed = 0;
  int64_t warmup_errors = 0;
  Distribution lag_ms;  // sent - scheduled, measured requests
  int64_t late = 0;     // measured requests sent more than kLateMs behind their schedule
  std::map<std::string, std::string> first_error;  // code -> one message, for the reader
};

inline constexpr double kLateMs = 10;

// `records` is indexed like workload.requests.
RunReport BuildReport(const Workload& workload, const std::vector<RequestRecord>& records);

// Whether the record met its targets (see the definitions above).
bool MetTtft(const PlannedRequest& plan, const RequestRecord& record);
bool MetTpot(const PlannedRequest& plan, const RequestRecord& record);

nlohmann::json ReportJson(const RunReport& report);
// A human summary and a table of groups (all, each class, each tenant).
std::string FormatReport(const RunReport& report, const std::string& title);

}  // namespace tessera

#endif  // TESSERA_CLIENT_BENCH_STATS_H_
