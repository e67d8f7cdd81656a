// How long the current process has run, from the kernel's record of its start: what a daemon
// reports as the "process" phase of its start (exec, dynamic linking, static constructors, flag
// parsing), which no clock taken in main can see.
//
// Stateless functions; thread-safe.
#ifndef TESSERA_SERVER_PROCESS_AGE_H_
#define TESSERA_SERVER_PROCESS_AGE_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tessera {

// Field 22 of a /proc/PID/stat line (starttime: clock ticks after boot). The command name (field
// 2) is in parentheses and may hold spaces and parentheses itself, so fields are counted from the
// last ')'. InvalidArgument when the line is not of that shape.
absl::StatusOr<uint64_t> ParseProcStatStartTicks(absl::string_view stat_line);

// Seconds since this process started, at the resolution of the kernel's clock ticks (usually
// 10 ms); an error where /proc is unreadable.
absl::StatusOr<double> ProcessAgeSeconds();

}  // namespace tessera

#endif  // TESSERA_SERVER_PROCESS_AGE_H_
