// A JSONL trace as the plan of a `tessera bench-serve` run, instead of generated arrivals.
//
// One JSON object per line (blank lines skipped; unknown fields are errors, so that a misspelt
// field is not silently dropped):
//   {"arrival_s": 0.25, "prompt_tokens": 512, "output_tokens": 64, "class": "chat",
//    "tenant": "acme", "adapter": "sql", "ttft_ms": 500, "tpot_ms": 50}
// with "prompt": "text" instead of "prompt_tokens" for a text prompt (the server tokenizes it).
// Required: arrival_s (seconds from the start, >= 0), output_tokens (>= 1) and one of the two
// prompts. A line without "class" is in class "default". A class that --class declares lends its
// targets and priority to the lines naming it (a line's own ttft_ms / tpot_ms win); other names
// become classes without targets. A tenant must be declared with --tenant, which gives its key.
//
// Pure function; thread-compatible.
#ifndef TESSERA_CLIENT_BENCH_TRACE_H_
#define TESSERA_CLIENT_BENCH_TRACE_H_

#include <cstdint>
#include <istream>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/bench_workload.h"

namespace tessera {

// Reads the trace; `source` names it in errors ("FILE:LINE: ..."). Lines need not be sorted; the
// plan is. Arrivals before warmup_s are the warm-up; duration_s / num_requests, when set, cut the
// measured part as they do a generated workload.
absl::StatusOr<Workload> LoadTraceWorkload(std::istream& in, absl::string_view source,
                                           std::vector<RequestClass> classes,
                                           std::vector<TenantSpec> tenants, double warmup_s,
                                           std::optional<double> duration_s,
                                           std::optional<int64_t> num_requests);

}  // namespace tessera

#endif  // TESSERA_CLIENT_BENCH_TRACE_H_
