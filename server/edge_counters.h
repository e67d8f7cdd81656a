// What the gRPC edge sees and the scheduler cannot: requests refused before they reach the
// scheduler, and how each accepted stream ended (its gRPC status). The gRPC layer records; the
// metrics exporter reads a Snapshot() next to the scheduler's SchedulerStats.
//
// Counting contract, so that every request is counted once
// (received = rejected + finished + in flight, per tenant):
//   - RecordRejected for each refusal the edge answers itself before Scheduler::Submit
//     (UNAUTHENTICATED, INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE while draining, ...).
//   - RecordSubmitRefused for a non-OK status from Scheduler::Submit: it skips the scheduler's
//     queue-full RESOURCE_EXHAUSTED, which SchedulerStats counts already.
//   - RecordStarted once Submit accepted the request, RecordFinished when its stream ends.
// `tenant` must be an authenticated tenant name (bounded cardinality), or empty when the caller
// has none (UNAUTHENTICATED).
//
// Thread-safe; one short lock per call.
#ifndef TESSERA_SERVER_EDGE_COUNTERS_H_
#define TESSERA_SERVER_EDGE_COUNTERS_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace tessera {

// Cumulative totals; status codes by their gRPC name ("RESOURCE_EXHAUSTED").
struct EdgeTenantStats {
  std::map<std::string, int64_t> rejected;  // by status code
  int64_t started = 0;
  std::map<std::string, int64_t> finished;  // by status code, "OK" included
};

struct EdgeStats {
  std::map<std::string, EdgeTenantStats> tenants;
};

class EdgeCounters {
 public:
  EdgeCounters() = default;
  EdgeCounters(const EdgeCounters&) = delete;
  EdgeCounters& operator=(const EdgeCounters&) = delete;

  void RecordRejected(std::string_view tenant, absl::StatusCode reason);
  void RecordSubmitRefused(std::string_view tenant, const absl::Status& status);
  void RecordStarted(std::string_view tenant);
  void RecordFinished(std::string_view tenant, absl::StatusCode code);

  EdgeStats Snapshot() const;

 private:
  mutable absl::Mutex mu_;
  EdgeStats stats_ ABSL_GUARDED_BY(mu_);
};

// The gRPC name of a status code ("OK", "RESOURCE_EXHAUSTED"); grpc::StatusCode has the same
// values as absl::StatusCode, so the gRPC layer can cast.
std::string StatusCodeName(absl::StatusCode code);

}  // namespace tessera

#endif  // TESSERA_SERVER_EDGE_COUNTERS_H_
