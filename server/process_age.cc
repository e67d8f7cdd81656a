#include "server/process_age.h"

#include <time.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tessera {

absl::StatusOr<uint64_t> ParseProcStatStartTicks(absl::string_view stat_line) {
  const size_t close = stat_line.rfind(')');
  if (close == absl::string_view::npos) {
    return absl::InvalidArgumentError("/proc/self/stat: no \")\" after the command name");
  }
  // Field 3 (state) is the first after the name, so starttime (22) is the 20th.
  const std::vector<absl::string_view> fields =
      absl::StrSplit(stat_line.substr(close + 1), ' ', absl::SkipEmpty());
  constexpr size_t kStartTimeIndex = 22 - 3;
  uint64_t ticks = 0;
  if (fields.size() <= kStartTimeIndex || !absl::SimpleAtoi(fields[kStartTimeIndex], &ticks)) {
    return absl::InvalidArgumentError(
        absl::StrCat("/proc/self/stat: no start time in field 22 of \"", stat_line, "\""));
  }
  return ticks;
}

absl::StatusOr<double> ProcessAgeSeconds() {
  std::ifstream in("/proc/self/stat");
  const std::string line((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in && line.empty()) return absl::UnavailableError("cannot read /proc/self/stat");
  absl::StatusOr<uint64_t> ticks = ParseProcStatStartTicks(line);
  if (!ticks.ok()) return ticks.status();
  const long ticks_per_second = sysconf(_SC_CLK_TCK);
  timespec boot{};
  // The kernel counts starttime on the boot-time clock (suspend included).
  if (ticks_per_second <= 0 || clock_gettime(CLOCK_BOOTTIME, &boot) != 0) {
    return absl::UnavailableError("no clock tick rate or CLOCK_BOOTTIME");
  }
  const double since_boot = static_cast<double>(boot.tv_sec) + boot.tv_nsec * 1e-9;
  const double age = since_boot - static_cast<double>(*ticks) / ticks_per_second;
  return age < 0 ? 0.0 : age;
}

}  // namespace tessera
