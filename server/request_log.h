// The per-request log line of `tesserad --log-requests`: one line when a Generate call ends, with
// what an operator needs to follow a request (vLLM logs its requests the same way) and nothing a
// tenant would not want in a log: no prompt or output text, no API key.
//
//   tesserad: request id=acme/r-17 tenant=acme adapter=sql prompt_tokens=12 output_tokens=40
//   queue_ms=3.1 ttft_ms=48.2 e2e_ms=512.9 preemptions=0 status=OK
//
// Times count from the edge's arrival stamp (GenerateRequest::arrival). A request refused before
// it reached the scheduler has no times: they read "-".
#ifndef TESSERA_SERVER_REQUEST_LOG_H_
#define TESSERA_SERVER_REQUEST_LOG_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "scheduler/request_sink.h"

namespace tessera {

struct RequestLogEntry {
  std::string id;       // as the client knows it (request_id, or the one the server made)
  std::string tenant;   // empty: not authenticated
  std::string adapter;  // empty: the base model
  absl::StatusCode status = absl::StatusCode::kOk;
  std::optional<RequestTimings> timings;  // from the scheduler's final update
};

// The line, without a trailing newline. Values that could hold spaces or control bytes (the id,
// the adapter name) are quoted and escaped, so a client cannot forge fields or lines.
std::string FormatRequestLog(const RequestLogEntry& entry);

}  // namespace tessera

#endif  // TESSERA_SERVER_REQUEST_LOG_H_
