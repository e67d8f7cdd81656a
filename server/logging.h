// tesserad's log: spdlog's default logger, writing to stderr one line per event with a timestamp
// and a level ("2026-12-05T01:40:00.123 info tesserad: serving ..."). Every message keeps its
// "tesserad: " prefix, which scripts and tests match on.
//
// Never logged: prompt or output text, API keys, and (in what callers see) server paths; the
// per-request line (request_log.h) carries counts and times only.
#ifndef TESSERA_SERVER_LOGGING_H_
#define TESSERA_SERVER_LOGGING_H_

#include <string>

#include "absl/status/status.h"

namespace tessera {

// Installs the stderr logger at `level` ("debug", "info", "warning", "error"; "warn" and "trace"
// too). InvalidArgument naming the accepted levels for any other value. Call once, early in
// main; safe to call again (the last level wins).
absl::Status SetUpLogging(const std::string& level);

}  // namespace tessera

#endif  // TESSERA_SERVER_LOGGING_H_
